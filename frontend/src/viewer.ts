/**
 * The viewer (#viewer): shows one image and coordinates the modules that segment it, each with
 * one job: image-loading.ts (loading → ready: the image file, the decoder and the embedding, via
 * embedding-source.ts and decoder-choice.ts), prompt-session.ts (prompts → decode → mask, with
 * undo/redo), object-set.ts and objects-panel.ts (the labelled objects), pointer-input.ts
 * (gestures), hover-preview.ts, candidates-bar.ts, window-level-controls.ts (DICOM),
 * mask-save.ts and viewer-keys.ts (keyboard shortcuts and the help panel). The viewer itself
 * draws (canvas.ts) and keeps the buttons and the DOM contract up to date.
 *
 * DOM contract (used by tests and benchmarks): data-image-id, data-state
 * (loading | ready | error), data-decode-count (incremented per drawn decode),
 * data-hover-count (per drawn hover preview), data-last-prompt (JSON in original
 * image pixels), data-last-decode-ms (session.run time of the last decode),
 * data-last-decode-total-ms (prompt → mask drawn), data-last-decode-source (decoder, or
 * hover when a click took the hover preview's output for the same pixel), data-candidates (JSON
 * [{index, iou}]), data-chosen (the shown candidate), data-saved-count,
 * data-embedding-source (network | cache | browser | memory: still held by the decoder worker), data-embedding-bytes; performance
 * measures "kdsam-decode" and "kdsam-open-to-ready".
 * canvas#image-canvas, #objects-canvas (other objects), #mask-overlay (the
 * active object only: alpha > 0 exactly where its mask is) and #marker-canvas
 * at the image's natural size.
 */
import type { ApiClient } from './api';
import type { ImageObject, ModelVersion } from './api-types';
import { CandidatesBar } from './candidates-bar';
import { binaryFromLogits, drawImage, resetOverlay } from './canvas';
import type { DecodeOutput, Decoder } from './decoder';
import { HoverPreview } from './hover-preview';
import { ImageLoading } from './image-loading';
import type { LocalImageSource } from './privacy'; // privacy mode
import { selectMasks } from './mask-select';
import { MaskLayers } from './mask-layers';
import type { ExportedObject } from './object-set';
import { ObjectsController } from './objects-controller';
import { paintStroke } from './brush';
import { PointerInput, type PointerHost, type Tool } from './pointer-input';
import { PromptSession, describeDecode, type Decoded } from './prompt-session';
import { addClick, buildPromptFeeds, emptyPrompt, isEmptyPrompt, promptToJSON, setBox, type Box, type Prompt } from './prompts';
import type { Command } from './shortcuts';
import { clampToImage, clientToImage, type Point } from './transforms';
import { ViewerKeys } from './viewer-keys';
import { StageZoom } from './zoom';
import type { Window } from './window-level';
import { WindowLevelControls } from './window-level-controls';

export type { Tool } from './pointer-input';
export type { ViewerState } from './image-loading';

export interface ViewerElements {
  root: HTMLElement;
  viewport: HTMLElement;
  stage: HTMLElement;
  imageCanvas: HTMLCanvasElement;
  objectsCanvas: HTMLCanvasElement;
  markerCanvas: HTMLCanvasElement;
  overlay: HTMLCanvasElement;
  clearButton: HTMLButtonElement;
  undoButton: HTMLButtonElement;
  redoButton: HTMLButtonElement;
  saveButton: HTMLButtonElement;
  newObjectButton: HTMLButtonElement;
  toolButtons: HTMLButtonElement[];
  opacity: HTMLInputElement;
  outline: HTMLInputElement;
  hover: HTMLInputElement;
  brushSize: HTMLInputElement;
  zoomIn: HTMLButtonElement;
  zoomOut: HTMLButtonElement;
  zoomFit: HTMLButtonElement;
  candidates: HTMLElement;
  helpButton: HTMLButtonElement;
  helpPanel: HTMLElement;
  helpTable: HTMLTableSectionElement;
  objectList: HTMLUListElement;
  objectLabel: HTMLInputElement;
  objectColor: HTMLInputElement;
  exports: HTMLElement;
  imageExport: HTMLAnchorElement;
  windowControls: HTMLElement;
  windowPreset: HTMLSelectElement;
  windowValue: HTMLElement;
  title: HTMLElement;
  info: HTMLElement;
}

export interface ViewerDeps {
  api: ApiClient;
  decoder: Decoder;
  /** Resolves once the active model is known (its decoder loads per image). */
  model: Promise<ModelVersion>;
  showError(message: string): void;
  clearError(): void;
  /** An image's saved objects changed (the study list shows counts). */
  onMasksChanged?(imageId: number): void;
  /** Privacy mode (privacy.ts): images opened in the browser only, embedded there, never uploaded. */
  local?: LocalImageSource;
}

export class Viewer {
  private readonly el: ViewerElements;
  private readonly zoom: StageZoom;
  private readonly loading: ImageLoading;
  private readonly session: PromptSession;
  private readonly objects: ObjectsController;
  private readonly layers: MaskLayers;
  private readonly hover: HoverPreview;
  private readonly pointer: PointerInput;
  private readonly windowLevel: WindowLevelControls;
  private readonly candidatesBar: CandidatesBar;
  private readonly keys: ViewerKeys;
  private decodeCount = 0;
  private hoverCount = 0;
  private savedCount = 0;
  private tool: Tool = 'prompt';

  constructor(elements: ViewerElements, deps: ViewerDeps) {
    this.el = elements;
    this.zoom = new StageZoom(elements.viewport, elements.stage);
    this.layers = new MaskLayers(elements);
    const root = elements.root;
    this.loading = new ImageLoading({
      api: deps.api,
      decoder: deps.decoder,
      model: deps.model,
      local: deps.local,
      dataset: root.dataset,
      stateChanged: (state) => {
        root.dataset.state = state;
        root.setAttribute('aria-busy', state === 'loading' ? 'true' : 'false');
        this.updateButtons();
      },
      info: (text) => (elements.info.textContent = text),
      showError: (message) => deps.showError(message),
      clearError: () => deps.clearError(),
      showImage: (bitmap, image, gen) => {
        drawImage(elements.imageCanvas, bitmap);
        void this.windowLevel.load(image, () => gen === this.loading.generation);
        this.redraw();
      },
    });
    this.objects = new ObjectsController(
      { list: elements.objectList, label: elements.objectLabel, color: elements.objectColor, exports: elements.exports },
      {
        listMasks: (imageId) => deps.api.listMasks(imageId),
        deleteMask: (maskId) => deps.api.deleteMask(maskId),
        saveMask: (imageId, body, maskId) => deps.api.saveMask(imageId, body, maskId),
        confirm: (message) => window.confirm(message),
        showError: (message) => deps.showError(message),
        onMasksChanged: (imageId) => deps.onMasksChanged?.(imageId),
        image: () => this.image,
        isLocal: (image) => this.loading.isLocal(image),
        isCurrent: (gen) => gen === this.loading.generation,
        ready: () => this.ready,
        activated: (obj) => {
          this.session.reset(obj.prompt, obj.mask);
          this.renderCandidates();
        },
        savedLoaded: (count) => {
          root.dataset.masksLoaded = String(count);
          elements.imageExport.hidden = count === 0;
        },
        saving: () => (elements.saveButton.disabled = true),
        saved: (obj, saved, image) => {
          root.dataset.savedCount = String(++this.savedCount);
          elements.imageExport.hidden = false;
          deps.clearError();
          elements.info.textContent = `Saved "${obj.label}" (${saved.area} pixels).`;
          deps.onMasksChanged?.(image.id);
        },
        rendered: () => this.updateButtons(),
        redraw: () => this.redraw(),
      },
    );
    this.session = new PromptSession({
      target: () => this.loading.decodeTarget(),
      isCurrent: (gen) => this.loading.isCurrent(gen),
      threshold: () => this.loading.threshold,
      active: () => this.objects.active,
      decode: (key, feeds, url) => deps.decoder.decode(key, feeds, url),
      cancelPending: () => deps.decoder.cancelPending(),
      hoverOutput: (prompt, url, gen, key) => this.hover.outputFor(prompt, url, gen, key),
      showError: (message) => deps.showError(message),
      decoded: (d) => this.decoded(d),
    });
    this.hover = new HoverPreview({
      ready: () => this.loading.state === 'ready',
      allowed: () => this.hoverAllowed(),
      stamp: () => ({ gen: this.loading.generation, version: this.session.version }),
      decode: (prompt) => {
        const { embeddingKey: key, decoderUrl: url, imageSize, inputSize } = this.loading;
        return { key, url, out: deps.decoder.decode(key, buildPromptFeeds(prompt, imageSize, inputSize), url) };
      },
      show: (out, prompt) => this.showHover(out, prompt),
    });
    this.pointer = new PointerInput(this.pointerHost());
    this.windowLevel = new WindowLevelControls(
      {
        root: elements.root,
        imageCanvas: elements.imageCanvas,
        controls: elements.windowControls,
        preset: elements.windowPreset,
        value: elements.windowValue,
        toolButtons: elements.toolButtons,
      },
      { fetchBinary: (path) => deps.api.fetchBinary(path), showError: (message) => deps.showError(message) },
    );
    this.candidatesBar = new CandidatesBar(elements.candidates, elements.root, (index) => this.pick(index));
    this.keys = new ViewerKeys(elements, {
      outline: elements.outline,
      opacity: elements.opacity,
      hover: elements.hover,
      redraw: () => this.redraw(),
      undo: () => this.undo(),
      redo: () => this.redo(),
      clear: () => this.clear(),
      candidates: () => this.session.last?.candidates ?? [],
      pick: (index) => this.pick(index),
      setTool: (tool) => this.setTool(tool),
      windowAvailable: () => this.windowLevel.available,
      newObject: () => this.newObject(),
      save: () => void this.save(),
      zoom: this.zoom,
    });
    this.pointer.bind(elements.stage);
    this.bindWheel();
    this.bindControls();
    this.keys.renderHelp();
    window.addEventListener('resize', () => this.fitStage());
    this.updateButtons();
  }

  private get image(): ImageObject | null {
    return this.loading.image;
  }

  private get ready(): boolean {
    return this.loading.state === 'ready';
  }

  // ------------------------------------------------------------------ layout

  /** CSS size of the viewport and stage: the image's aspect ratio, as large as fits (small images up to 4x). */
  fitStage(): void {
    const image = this.image;
    const { stage, viewport } = this.el;
    if (!image || !image.width || !image.height) {
      stage.style.width = stage.style.height = viewport.style.width = viewport.style.height = '0px';
      return;
    }
    const availW = Math.max(100, (viewport.parentElement ?? this.el.root).clientWidth);
    const top = viewport.getBoundingClientRect().top + window.scrollY;
    const availH = Math.max(100, window.innerHeight - Math.min(top, window.innerHeight / 2) - 48);
    const scale = Math.min(availW / image.width, availH / image.height, 4);
    const w = `${Math.max(1, Math.floor(image.width * scale))}px`;
    const h = `${Math.max(1, Math.floor(image.height * scale))}px`;
    stage.style.width = viewport.style.width = w;
    stage.style.height = viewport.style.height = h;
    this.zoom.set(this.zoom.view);
  }

  /** Privacy mode: the open image and its objects with masks (active first), for the browser-side downloads. */
  exportState(): { image: ImageObject; objects: ExportedObject[] } | null {
    if (!this.image) return null;
    return { image: this.image, objects: this.objects.set.exported() };
  }

  get currentImageId(): number | null {
    return this.image?.id ?? null;
  }

  // ------------------------------------------------------------------ opening

  /** Opens an image; re-opening the image already shown only retries after an error. */
  open(image: ImageObject): void {
    if (this.image?.id === image.id && this.loading.state !== 'error') {
      this.update(image);
      return;
    }
    const gen = this.loading.begin(image);
    this.session.reset(emptyPrompt(), null);
    this.decodeCount = this.hoverCount = this.savedCount = 0;
    this.objects.clear();

    const root = this.el.root;
    root.dataset.imageId = String(image.id);
    root.dataset.decodeCount = '0';
    root.dataset.hoverCount = '0';
    root.dataset.savedCount = '0';
    delete root.dataset.lastPrompt;
    delete root.dataset.candidates;
    delete root.dataset.chosen;
    delete root.dataset.masksLoaded;
    root.hidden = false;
    this.el.title.textContent = image.filename;
    this.el.info.textContent = '';
    this.el.imageExport.hidden = true;
    this.windowLevel.reset();
    if (this.tool === 'window') this.setTool('prompt');
    this.el.imageExport.href = `/api/images/${image.id}/masks/coco/`;
    this.renderCandidates();
    this.loading.setState('loading');
    this.fitStage();
    this.zoom.reset();

    resetOverlay(this.el.overlay, image.width, image.height);
    resetOverlay(this.el.objectsCanvas, image.width, image.height);
    void this.loading.loadImage(gen, image);
    void this.objects.load(gen, image);
    this.update(image);
  }

  /** Status update for any image (from the websocket or polling). */
  update(image: ImageObject): void {
    this.loading.update(image);
  }

  /** Redraws the image canvas through a window (DICOM only). */
  setWindow(w: Window): void {
    this.windowLevel.set(w);
  }

  // ------------------------------------------------------------------ objects

  /** Starts a new object, dropping the active one if it has nothing in it. */
  newObject(): void {
    this.objects.newObject();
  }

  /** Saves the active object (creates it, or replaces the saved version). */
  save(): Promise<void> {
    return this.objects.save(this.loading.generation);
  }

  // ------------------------------------------------------------------ drawing

  /** Redraws the other objects, the active mask and the prompt markers. */
  private redraw(dragBox: Box | null = null): void {
    if (this.image) this.layers.draw(this.image, this.objects.set.others(), this.objects.active, this.session.prompt, dragBox);
  }

  private drawActiveMask(mask: Uint8Array | null = this.objects.active?.mask ?? null, preview = false): void {
    if (this.image) this.layers.drawActive(this.image, this.objects.active, mask, preview);
  }

  private renderCandidates(): void {
    this.candidatesBar.render(this.session.last);
  }

  // ------------------------------------------------------------------ prompts and decoding (prompt-session.ts)

  /** The session went back to another snapshot (undo, redo, clear): show it. */
  private restored(): void {
    this.renderCandidates();
    this.el.root.dataset.lastPrompt = promptToJSON(this.session.prompt);
    this.redraw();
    this.objects.render();
  }

  undo(): void {
    if (this.session.undo()) this.restored();
  }

  redo(): void {
    if (this.session.redo()) this.restored();
  }

  /** Removes the prompts and mask of the active object (undoable). */
  clear(): void {
    if (!this.session.clear()) return;
    this.restored();
    if (this.ready) this.el.info.textContent = 'Cleared. Click to add a point.';
  }

  /** Shows another candidate of the last decode. */
  pick(index: number): void {
    if (!this.session.pick(index)) return;
    this.renderCandidates();
    this.drawActiveMask();
    this.objects.render();
  }

  private addPrompt(next: Prompt): void {
    this.session.set(next);
    this.hover.cancel();
    this.redraw();
    void this.session.decode();
  }

  /** Draws a decode of the current prompt and records it in the DOM contract. */
  private decoded({ prompt, out, mask, chosen, source, started }: Decoded): void {
    this.drawActiveMask();
    this.renderCandidates();
    this.objects.render();
    const total = performance.now() - started;
    performance.measure?.('kdsam-decode', { start: started, duration: total });
    const root = this.el.root;
    this.decodeCount++;
    root.dataset.decodeCount = String(this.decodeCount);
    root.dataset.lastPrompt = promptToJSON(prompt);
    root.dataset.lastDecodeMs = out.runMs.toFixed(2);
    root.dataset.lastDecodeTotalMs = total.toFixed(2);
    root.dataset.lastDecodeSource = source;
    this.el.info.textContent = describeDecode(prompt, mask, out.iou[chosen], out.runMs);
  }

  /** Draws a hover preview (hover-preview.ts) of the mask under the cursor. */
  private showHover(out: DecodeOutput, prompt: Prompt): void {
    if (!this.image) return;
    const n = this.image.width * this.image.height;
    const { chosen } = selectMasks(out.iou, prompt);
    this.drawActiveMask(binaryFromLogits(out.masks, chosen * n, n, this.loading.threshold), true);
    this.hoverCount++;
    this.el.root.dataset.hoverCount = String(this.hoverCount);
  }

  private hoverAllowed(): boolean {
    return this.el.hover.checked && this.tool === 'prompt' && !this.pointer.busy && isEmptyPrompt(this.session.prompt) && !this.objects.active?.mask;
  }

  // ------------------------------------------------------------------ input

  private pointToImage(ev: { clientX: number; clientY: number }): Point {
    const image = this.image!;
    const rect = this.el.overlay.getBoundingClientRect();
    return clampToImage(clientToImage(ev.clientX, ev.clientY, rect, image.width, image.height), image.width, image.height);
  }

  /** What the pointer gestures (pointer-input.ts) do in this viewer. */
  private pointerHost(): PointerHost {
    return {
      ready: () => this.ready && !!this.image,
      hasImage: () => !!this.image,
      hasSize: () => {
        const rect = this.el.overlay.getBoundingClientRect();
        return rect.width > 0 && rect.height > 0;
      },
      tool: () => this.tool,
      toImage: (ev) => this.pointToImage(ev),
      panBy: (dx, dy) => this.zoom.panBy(dx, dy),
      windowStart: () => this.windowLevel.window,
      dragWindow: (start, dx, dy) => this.windowLevel.drag(start, dx, dy),
      beginStroke: (p, value) => {
        const image = this.image;
        const active = this.objects.active;
        if (!active || !image) return null;
        const mask = active.mask ? active.mask.slice() : new Uint8Array(image.width * image.height);
        paintStroke(mask, image.width, image.height, p, p, this.brushRadius(), value);
        this.drawActiveMask(mask);
        return mask;
      },
      stroke: (mask, from, to, value) => {
        const image = this.image!;
        paintStroke(mask, image.width, image.height, from, to, this.brushRadius(), value);
        this.drawActiveMask(mask);
      },
      endStroke: (mask) => {
        if (!this.session.stroke(mask)) return;
        this.renderCandidates();
        this.objects.render();
        this.drawActiveMask();
      },
      click: (p, label) => this.addPrompt(addClick(this.session.prompt, { x: p.x, y: p.y, label })),
      dragging: (box) => this.redraw(box),
      box: (box) => this.addPrompt(setBox(this.session.prompt, box)),
      cancelled: () => this.redraw(),
      hover: (ev) => {
        if (this.hoverAllowed()) this.hover.schedule(this.pointToImage(ev));
      },
      leave: () => {
        if (this.hoverAllowed() && this.hoverCount > 0) {
          this.hover.cancel();
          this.session.invalidate(); // drops a preview still in flight
          this.drawActiveMask();
        }
      },
    };
  }

  private bindWheel(): void {
    this.el.viewport.addEventListener(
      'wheel',
      (ev) => {
        if (!this.image || this.loading.state === null) return;
        ev.preventDefault();
        this.zoom.zoomBy(ev.deltaY < 0 ? 1.25 : 0.8, this.zoom.anchorOf(ev));
      },
      { passive: false },
    );
  }

  private brushRadius(): number {
    // the slider is in screen pixels; convert to image pixels at the current zoom
    const rect = this.el.overlay.getBoundingClientRect();
    const perPixel = this.image && rect.width ? this.image.width / rect.width : 1;
    return Math.max(0.5, Number(this.el.brushSize.value) * perPixel);
  }

  setTool(tool: Tool): void {
    this.tool = tool;
    this.el.root.dataset.tool = tool;
    for (const b of this.el.toolButtons) b.setAttribute('aria-pressed', String(b.dataset.tool === tool));
    if (tool !== 'prompt') {
      this.hover.cancel();
      this.drawActiveMask();
    }
  }

  private bindControls(): void {
    const el = this.el;
    el.clearButton.addEventListener('click', () => this.clear());
    el.undoButton.addEventListener('click', () => this.undo());
    el.redoButton.addEventListener('click', () => this.redo());
    el.saveButton.addEventListener('click', () => void this.save());
    el.newObjectButton.addEventListener('click', () => this.newObject());
    for (const b of el.toolButtons) b.addEventListener('click', () => this.setTool(b.dataset.tool as Tool));
    el.opacity.addEventListener('input', () => this.redraw());
    el.outline.addEventListener('change', () => this.redraw());
    el.zoomIn.addEventListener('click', () => this.zoom.zoomBy(1.25));
    el.zoomOut.addEventListener('click', () => this.zoom.zoomBy(0.8));
    el.zoomFit.addEventListener('click', () => this.zoom.reset());
    this.keys.bindHelp();
    this.keys.bindKeys(document);
    this.setTool('prompt');
  }

  toggleHelp(show?: boolean): void {
    this.keys.toggleHelp(show);
  }

  /** Executes a keyboard command (viewer-keys.ts). */
  run(command: Command): void {
    this.keys.run(command);
  }

  private updateButtons(): void {
    const ready = this.ready;
    const active = this.objects.active;
    this.el.undoButton.disabled = !ready || !this.session.canUndo;
    this.el.redoButton.disabled = !ready || !this.session.canRedo;
    this.el.clearButton.disabled = !ready || (isEmptyPrompt(this.session.prompt) && !active?.mask);
    this.el.saveButton.disabled = !ready || !active?.mask || (active.id != null && !active.dirty);
    this.el.newObjectButton.disabled = !ready;
  }
}
