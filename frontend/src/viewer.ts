/**
 * The viewer (#viewer): shows one image, loads its embedding into the decoder,
 * turns pointer input into prompts (points, negative points, boxes), keeps the
 * undo/redo history of the active object and draws the masks. It coordinates
 * modules with one job each: embedding-source.ts (where the embedding comes from),
 * decoder-choice.ts (which decoder), pointer-input.ts (gestures), hover-preview.ts,
 * candidates-bar.ts, window-level-controls.ts (DICOM) and mask-save.ts.
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
import type { ApiClient, MaskObject } from './api';
import type { ImageObject, ModelVersion } from './api-types';
import { CandidatesBar, type LastDecode } from './candidates-bar';
import { binaryFromLogits, drawBinaryMasks, drawImage, drawPromptMarkers, resetOverlay, type MaskStyle } from './canvas';
import type { DecodeOutput, Decoder } from './decoder';
import { decoderUrls, loadDecoder, type ChosenDecoder } from './decoder-choice';
import { assertDecoderEmbedding, parseEmbeddingAsync } from './embedding';
import { EmbeddingCache } from './embedding-cache';
import { EmbeddingSources, RetryTimer, decoderEmbeddingKey } from './embedding-source';
import { HoverPreview } from './hover-preview';
import type { LocalImageSource } from './privacy'; // privacy mode
import { History } from './history';
import { saveObject } from './mask-save';
import { selectMasks } from './mask-select';
import { newObject, objectFromApi, type SegObject } from './objects';
import { ObjectsPanel } from './objects-panel';
import { paintStroke } from './brush';
import { PointerInput, type PointerHost, type Tool } from './pointer-input';
import { addClick, buildPromptFeeds, emptyPrompt, isEmptyPrompt, promptToJSON, setBox, type Box, type Prompt } from './prompts';
import { commandFor, isTyping, renderHelp, type Command } from './shortcuts';
import { clampToImage, clientToImage, getPreprocessShape, type HW, type Point } from './transforms';
import { StageZoom } from './zoom';
import type { Window } from './window-level';
import { WindowLevelControls } from './window-level-controls';

export type { Tool } from './pointer-input';

export type ViewerState = 'loading' | 'ready' | 'error';

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

/** One step of the active object's history. */
interface Snapshot {
  prompt: Prompt;
  mask: Uint8Array | null;
  /** Low-res logits [256×256] of the shown mask: the next decode's mask_input. */
  lowRes: Float32Array | null;
}

const EMPTY: Snapshot = { prompt: emptyPrompt(), mask: null, lowRes: null };

/** Decodes an image file; prefers the orientation whose size matches the server's. */
async function loadBitmap(blob: Blob, width: number, height: number): Promise<ImageBitmap> {
  const bitmap = await createImageBitmap(blob);
  if (bitmap.width === width && bitmap.height === height) return bitmap;
  const raw = await createImageBitmap(blob, { imageOrientation: 'none' }).catch(() => null);
  if (raw && raw.width === width && raw.height === height) {
    bitmap.close();
    return raw;
  }
  raw?.close();
  return bitmap;
}

export class Viewer {
  private readonly el: ViewerElements;
  private readonly deps: ViewerDeps;
  private readonly zoom: StageZoom;
  private readonly panel: ObjectsPanel;
  private readonly sources: EmbeddingSources;
  private readonly retry = new RetryTimer();
  private readonly hover: HoverPreview;
  private readonly pointer: PointerInput;
  private readonly windowLevel: WindowLevelControls;
  private readonly candidatesBar: CandidatesBar;
  private image: ImageObject | null = null;
  private generation = 0;
  private state: ViewerState | null = null;
  private waitingForEmbedding = false;
  private embeddingKey = '';
  /** The decoder every decode uses (decoder-choice.ts). */
  private decoderUrl = '';
  private imageSize: HW = [0, 0];
  private inputSize: HW = [0, 0];
  /** The prompt including clicks whose decode is still pending. */
  private prompt: Prompt = emptyPrompt();
  private history = new History<Snapshot>(EMPTY);
  private objects: SegObject[] = [];
  private active: SegObject | null = null;
  /** Last decoder output for the active object (for picking another candidate). */
  private lastOut: LastDecode | null = null;
  private promptVersion = 0;
  private decodeCount = 0;
  private hoverCount = 0;
  private savedCount = 0;
  private threshold = 0.0;
  private tool: Tool = 'prompt';
  private loaded = { image: false, embedding: false };
  private openedAt = 0;

  constructor(elements: ViewerElements, deps: ViewerDeps) {
    this.el = elements;
    this.deps = deps;
    this.zoom = new StageZoom(elements.viewport, elements.stage);
    this.panel = new ObjectsPanel(
      { list: elements.objectList, label: elements.objectLabel, color: elements.objectColor, exports: elements.exports },
      {
        select: (key) => this.selectObject(key),
        remove: (key) => void this.removeObject(key),
        rename: (label) => this.editActive({ label }),
        recolor: (color) => this.editActive({ color }),
      },
    );
    this.sources = new EmbeddingSources({
      useKept: (key) => deps.decoder.useEmbedding(key),
      cache: new EmbeddingCache(),
      fetch: (image) => deps.api.fetchEmbedding(image),
    });
    this.hover = new HoverPreview({
      ready: () => this.state === 'ready',
      allowed: () => this.hoverAllowed(),
      stamp: () => ({ gen: this.generation, version: this.promptVersion }),
      decode: (prompt) => {
        const feeds = buildPromptFeeds(prompt, this.imageSize, this.inputSize);
        const key = this.embeddingKey;
        const url = this.decoderUrl;
        return { key, url, out: deps.decoder.decode(key, feeds, url) };
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
    this.pointer.bind(elements.stage);
    this.bindWheel();
    this.bindControls();
    renderHelp(elements.helpTable);
    window.addEventListener('resize', () => this.fitStage());
    this.updateButtons();
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

  // ------------------------------------------------------------------ privacy mode (privacy.ts)

  private isLocal(image: ImageObject): boolean {
    return !!this.deps.local?.isLocal(image.id);
  }

  /** The open image and its objects with masks (active first), for the browser-side downloads. */
  exportState(): { image: ImageObject; objects: { label: string; mask: Uint8Array; active: boolean }[] } | null {
    if (!this.image) return null;
    const withMasks = this.objects.filter((o) => o.mask);
    withMasks.sort((a, b) => (a === this.active ? -1 : b === this.active ? 1 : 0));
    return { image: this.image, objects: withMasks.map((o) => ({ label: o.label.trim() || 'object', mask: o.mask!, active: o === this.active })) };
  }

  // ------------------------------------------------------------------ /privacy mode

  get currentImageId(): number | null {
    return this.image?.id ?? null;
  }

  // ------------------------------------------------------------------ opening

  /** Opens an image; re-opening the image already shown only retries after an error. */
  open(image: ImageObject): void {
    if (this.image?.id === image.id && this.state !== 'error') {
      this.update(image);
      return;
    }
    const gen = ++this.generation;
    this.retry.cancel();
    this.openedAt = performance.now();
    this.image = image;
    this.prompt = emptyPrompt();
    this.promptVersion++;
    this.deps.decoder.cancelPending();
    this.decodeCount = this.hoverCount = this.savedCount = 0;
    this.embeddingKey = '';
    this.waitingForEmbedding = false;
    this.loaded = { image: false, embedding: false };
    this.objects = [];
    this.active = null;
    this.lastOut = null;
    this.history.reset(EMPTY);

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
    this.setState('loading');
    this.fitStage();
    this.zoom.reset();

    void this.loadImage(gen, image);
    void this.loadMasks(gen, image);
    this.update(image);
  }

  /** Status update for any image (from the websocket or polling). */
  update(image: ImageObject): void {
    if (!this.image || image.id !== this.image.id) return;
    this.image = image;
    if (this.state === 'ready' || this.embeddingKey) return;
    if (image.status === 'failed') {
      this.fail(this.generation, `Embedding failed for ${image.filename}: ${image.error || 'unknown error'}`);
    } else if (image.status === 'ready') {
      if (!this.waitingForEmbedding) void this.loadEmbedding(this.generation, image);
    } else {
      this.el.info.textContent =
        image.status === 'queued'
          ? `Waiting for the embedding (queued${image.queue_position != null ? `, position ${image.queue_position}` : ''})…`
          : 'Computing the embedding…';
    }
  }

  private setState(state: ViewerState): void {
    this.state = state;
    this.el.root.dataset.state = state;
    this.el.root.setAttribute('aria-busy', state === 'loading' ? 'true' : 'false');
    this.updateButtons();
  }

  private fail(gen: number, message: string): void {
    if (gen !== this.generation) return;
    this.setState('error');
    this.el.info.textContent = '';
    this.deps.showError(message);
  }

  private async loadImage(gen: number, image: ImageObject): Promise<void> {
    resetOverlay(this.el.overlay, image.width, image.height);
    resetOverlay(this.el.objectsCanvas, image.width, image.height);
    try {
      // privacy mode: a local image's file never came from (nor goes to) the server
      const blob = this.isLocal(image) ? this.deps.local!.file(image.id) : await this.deps.api.fetchImageFile(image);
      const bitmap = await loadBitmap(blob, image.width, image.height);
      if (gen !== this.generation) {
        bitmap.close();
        return;
      }
      if (bitmap.width !== image.width || bitmap.height !== image.height) {
        bitmap.close();
        throw new Error(
          `${image.filename} decodes to ${bitmap.width}×${bitmap.height} pixels but the server says ${image.width}×${image.height}`,
        );
      }
      drawImage(this.el.imageCanvas, bitmap);
      bitmap.close();
      void this.windowLevel.load(image, () => gen === this.generation);
      this.redraw();
      this.loaded.image = true;
      this.maybeReady(gen);
    } catch (err) {
      this.fail(gen, `Cannot show ${image.filename}: ${(err as Error).message}`);
    }
  }

  private async loadMasks(gen: number, image: ImageObject): Promise<void> {
    let saved: MaskObject[] = [];
    try {
      if (!this.isLocal(image)) saved = await this.deps.api.listMasks(image.id); // privacy mode: nothing saved
    } catch (err) {
      if (gen === this.generation) this.deps.showError(`Cannot load the saved masks of ${image.filename}: ${(err as Error).message}`);
    }
    if (gen !== this.generation) return;
    // objects started before the list arrived stay, after the saved ones
    this.objects = [...saved.map(objectFromApi), ...this.objects];
    if (!this.active) this.startObject();
    this.el.root.dataset.masksLoaded = String(saved.length);
    this.el.imageExport.hidden = saved.length === 0;
    this.renderObjects();
    this.redraw();
  }

  private async loadEmbedding(gen: number, image: ImageObject): Promise<void> {
    this.waitingForEmbedding = true;
    try {
      const model = await this.deps.model;
      if (gen !== this.generation) return;
      this.threshold = model.mask_threshold ?? 0.0;
      // the decoder of the image's own model version: the embedding belongs to it
      const version = image.model_version === model.id ? model : await this.deps.api.getModel(image.model_version).catch(() => null);
      const urls = decoderUrls(image, model, version, (path) => this.deps.api.url(path));
      const decoderReady = loadDecoder(urls, (url) => this.deps.decoder.init(url));

      const local = this.isLocal(image);
      const key = decoderEmbeddingKey(image, local);
      const found = await this.sources.find(key, image, {
        // privacy mode: the embedding is computed in this browser (encoder worker, Cache Storage)
        local: local ? () => this.deps.local!.embedding(image.id) : undefined,
        decoderReady,
        isCurrent: () => gen === this.generation,
      });
      if (!found) return;
      if (found.source === 'not-ready') {
        this.waitingForEmbedding = false;
        this.retry.schedule(() => {
          if (gen === this.generation && this.image) this.update(this.image);
        });
        return;
      }
      const root = this.el.root;
      if (found.source === 'memory') {
        // back to an image opened a moment ago: the decoder worker still holds its embedding
        root.dataset.embeddingSource = 'memory';
        root.dataset.embeddingBytes = String(found.bytes);
        this.imageSize = [image.height, image.width];
        this.inputSize = found.inputSize;
        await this.embeddingReady(gen, key, decoderReady);
        return;
      }
      const { buffer } = found;
      root.dataset.embeddingSource = found.source;
      root.dataset.embeddingBytes = String(buffer.byteLength);
      const emb = await parseEmbeddingAsync(buffer);
      assertDecoderEmbedding(emb, image);
      this.imageSize = [image.height, image.width];
      this.inputSize = emb.header.input_size;
      const expected = getPreprocessShape(image.height, image.width, model.image_size || 1024);
      if (expected[0] !== this.inputSize[0] || expected[1] !== this.inputSize[1]) {
        console.warn(`embedding input_size ${this.inputSize} differs from ResizeLongestSide ${expected}; using the header`);
      }
      await decoderReady;
      await this.deps.decoder.setEmbedding(key, emb.data, emb.dims);
      this.sources.keep(key, { inputSize: this.inputSize, bytes: buffer.byteLength });
      if (gen !== this.generation) return;
      await this.embeddingReady(gen, key, decoderReady);
    } catch (err) {
      this.waitingForEmbedding = false;
      this.fail(gen, `Cannot prepare ${image.filename} for segmentation: ${(err as Error).message}`);
    }
  }

  private async embeddingReady(gen: number, key: string, decoder: Promise<ChosenDecoder>): Promise<void> {
    const { url, info } = await decoder;
    if (gen !== this.generation) return;
    this.decoderUrl = url;
    this.el.root.dataset.decoderThreads = String(info.numThreads);
    this.embeddingKey = key;
    this.loaded.embedding = true;
    this.maybeReady(gen);
  }

  private maybeReady(gen: number): void {
    if (gen !== this.generation || this.state === 'error') return;
    if (!this.loaded.image || !this.loaded.embedding) return;
    this.setState('ready');
    const ms = performance.now() - this.openedAt;
    this.el.root.dataset.openToReadyMs = ms.toFixed(1);
    performance.measure?.('kdsam-open-to-ready', { start: this.openedAt, duration: ms });
    this.deps.clearError();
    this.el.info.textContent =
      'Click: positive point · right click or Shift+click: negative point · drag: box · ? for all shortcuts.';
  }

  // ------------------------------------------------------------------ window/level (DICOM)

  /** Redraws the image canvas through a window (DICOM only). */
  setWindow(w: Window): void {
    this.windowLevel.set(w);
  }

  // ------------------------------------------------------------------ objects

  private startObject(): void {
    const obj = newObject(this.objects.length);
    this.objects.push(obj);
    this.activate(obj);
  }

  private activate(obj: SegObject): void {
    this.active = obj;
    this.prompt = obj.prompt;
    this.promptVersion++;
    this.deps.decoder.cancelPending();
    this.history.reset({ prompt: obj.prompt, mask: obj.mask, lowRes: null });
    this.lastOut = null;
    this.renderCandidates();
    this.renderObjects();
    this.redraw();
  }

  private selectObject(key: number): void {
    const obj = this.objects.find((o) => o.key === key);
    if (obj && obj !== this.active) this.activate(obj);
  }

  /** Starts a new object, dropping the active one if it has nothing in it. */
  newObject(): void {
    if (this.state !== 'ready') return;
    if (this.active && !this.active.mask && this.active.id == null) this.objects = this.objects.filter((o) => o !== this.active);
    this.startObject();
  }

  private editActive(change: { label?: string; color?: string }): void {
    const obj = this.active;
    if (!obj) return;
    if (change.label !== undefined) obj.label = change.label;
    if (change.color !== undefined) obj.color = change.color;
    obj.dirty = obj.id != null || obj.mask != null;
    this.renderObjects();
    this.redraw();
  }

  private async removeObject(key: number): Promise<void> {
    const obj = this.objects.find((o) => o.key === key);
    if (!obj || !this.image) return;
    if (obj.id != null) {
      if (!window.confirm(`Delete the saved mask "${obj.label}"?`)) return;
      try {
        await this.deps.api.deleteMask(obj.id);
      } catch (err) {
        this.deps.showError(`Cannot delete ${obj.label}: ${(err as Error).message}`);
        return;
      }
      this.deps.onMasksChanged?.(this.image.id);
    }
    this.objects = this.objects.filter((o) => o !== obj);
    if (this.active === obj) {
      if (this.objects.length) this.activate(this.objects[this.objects.length - 1]);
      else this.startObject();
    } else {
      this.renderObjects();
      this.redraw();
    }
  }

  /** Saves the active object (creates it, or replaces the saved version). */
  async save(): Promise<void> {
    const obj = this.active;
    const image = this.image;
    if (!obj || !image || this.state !== 'ready') return;
    const gen = this.generation;
    await saveObject(obj, image, {
      saveMask: (imageId, body, maskId) => this.deps.api.saveMask(imageId, body, maskId),
      isLocal: this.isLocal(image),
      isCurrent: () => gen === this.generation,
      showError: (message) => this.deps.showError(message),
      started: () => {
        this.el.saveButton.disabled = true;
      },
      saved: (o, saved) => {
        this.savedCount++;
        this.el.root.dataset.savedCount = String(this.savedCount);
        this.el.imageExport.hidden = false;
        this.deps.clearError();
        this.el.info.textContent = `Saved "${o.label}" (${saved.area} pixels).`;
        this.deps.onMasksChanged?.(image.id);
      },
      finished: () => {
        this.renderObjects();
        this.updateButtons();
      },
    });
  }

  private renderObjects(): void {
    this.panel.render(this.objects, this.active?.key ?? null);
    this.updateButtons();
  }

  // ------------------------------------------------------------------ drawing

  private style(obj: SegObject): MaskStyle {
    return { color: obj.color, opacity: Number(this.el.opacity.value) / 100, outline: this.el.outline.checked };
  }

  /** Redraws the other objects, the active mask and the prompt markers. */
  private redraw(dragBox: Box | null = null): void {
    const image = this.image;
    if (!image) return;
    const { width, height } = image;
    const others = this.objects.filter((o) => o !== this.active && o.mask);
    drawBinaryMasks(this.el.objectsCanvas, width, height, others.map((o) => ({ mask: o.mask!, style: this.style(o) })));
    this.drawActiveMask();
    drawPromptMarkers(this.el.markerCanvas, width, height, this.prompt.points, this.prompt.box, dragBox);
  }

  private drawActiveMask(mask: Uint8Array | null = this.active?.mask ?? null, preview = false): void {
    const image = this.image;
    if (!image) return;
    const obj = this.active;
    const style = obj ? this.style(obj) : { color: '#1e90ff', opacity: 0.5, outline: false };
    if (preview) style.opacity = Math.min(style.opacity, 0.35);
    drawBinaryMasks(this.el.overlay, image.width, image.height, mask ? [{ mask, style }] : []);
  }

  private renderCandidates(): void {
    this.candidatesBar.render(this.lastOut);
  }

  // ------------------------------------------------------------------ prompts and decoding

  private applySnapshot(s: Snapshot): void {
    this.prompt = s.prompt;
    this.promptVersion++;
    this.deps.decoder.cancelPending();
    if (this.active) {
      this.active.prompt = s.prompt;
      this.active.mask = s.mask;
      this.active.dirty = true;
    }
    this.lastOut = null;
    this.renderCandidates();
    this.el.root.dataset.lastPrompt = promptToJSON(s.prompt);
    this.redraw();
    this.renderObjects();
  }

  undo(): void {
    const s = this.history.undo();
    if (s) this.applySnapshot(s);
  }

  redo(): void {
    const s = this.history.redo();
    if (s) this.applySnapshot(s);
  }

  /** Removes the prompts and mask of the active object (undoable). */
  clear(): void {
    if (isEmptyPrompt(this.prompt) && !this.active?.mask) return;
    this.history.push(EMPTY);
    this.applySnapshot(EMPTY);
    if (this.state === 'ready') this.el.info.textContent = 'Cleared. Click to add a point.';
  }

  /** Shows another candidate of the last decode. */
  pick(index: number): void {
    const last = this.lastOut;
    const image = this.image;
    if (!last || !image || !last.candidates.includes(index) || !this.active) return;
    const n = image.width * image.height;
    const mask = binaryFromLogits(last.out.masks, index * n, n, this.threshold);
    const lowRes = last.out.lowRes.slice(index * 65536, (index + 1) * 65536);
    last.chosen = index;
    this.history.present = { prompt: this.history.present.prompt, mask, lowRes };
    this.active.mask = mask;
    this.active.dirty = true;
    this.renderCandidates();
    this.drawActiveMask();
    this.renderObjects();
  }

  private addPrompt(next: Prompt): void {
    this.prompt = next;
    if (this.active) this.active.prompt = next;
    this.hover.cancel();
    this.redraw();
    void this.decode();
  }

  private async decode(): Promise<void> {
    const prompt = this.prompt;
    const version = ++this.promptVersion;
    const gen = this.generation;
    const image = this.image;
    if (isEmptyPrompt(prompt) || !image) return;
    const previous = this.history.present;
    // refinement: once there is a mask, the next prompt starts from its low-res logits
    const maskInput = !isEmptyPrompt(previous.prompt) ? previous.lowRes : null;
    const feeds = buildPromptFeeds(prompt, this.imageSize, this.inputSize, maskInput);
    const started = performance.now();
    const url = this.decoderUrl;
    let out: DecodeOutput | null = null;
    let source: 'hover' | 'decoder' = 'decoder';
    try {
      const hover = maskInput ? null : this.hover.outputFor(prompt, url, gen, this.embeddingKey);
      if (hover) {
        out = await hover.catch(() => null);
        source = 'hover';
      }
      if (!out) {
        source = 'decoder';
        out = await this.deps.decoder.decode(this.embeddingKey, feeds, url);
      }
    } catch (err) {
      if (gen === this.generation && version === this.promptVersion) this.deps.showError(`Decoding failed: ${(err as Error).message}`);
      return;
    }
    if (!out || gen !== this.generation || version !== this.promptVersion || !this.image) return;
    const [h, w] = out.maskDims.slice(-2);
    if (w !== image.width || h !== image.height) {
      this.deps.showError(`The decoder returned a ${w}×${h} mask for a ${image.width}×${image.height} image`);
      return;
    }
    const { candidates, chosen } = selectMasks(out.iou, prompt);
    const n = w * h;
    const mask = binaryFromLogits(out.masks, chosen * n, n, this.threshold);
    const lowRes = out.lowRes.slice(chosen * 65536, (chosen + 1) * 65536);
    this.history.push({ prompt, mask, lowRes });
    this.lastOut = { out, candidates, chosen };
    if (this.active) {
      this.active.mask = mask;
      this.active.prompt = prompt;
      this.active.dirty = true;
    }
    this.drawActiveMask();
    this.renderCandidates();
    this.renderObjects();
    const total = performance.now() - started;
    performance.measure?.('kdsam-decode', { start: started, duration: total });
    const root = this.el.root;
    this.decodeCount++;
    root.dataset.decodeCount = String(this.decodeCount);
    root.dataset.lastPrompt = promptToJSON(prompt);
    root.dataset.lastDecodeMs = out.runMs.toFixed(2);
    root.dataset.lastDecodeTotalMs = total.toFixed(2);
    root.dataset.lastDecodeSource = source;
    let area = 0;
    for (let i = 0; i < n; i++) area += mask[i];
    const pct = ((100 * area) / n).toFixed(1);
    const what = `${prompt.points.length} point(s)${prompt.box ? ' + box' : ''}`;
    this.el.info.textContent = `${what} · predicted IoU ${out.iou[chosen].toFixed(3)} · mask ${pct}% of the image · ${out.runMs.toFixed(0)} ms`;
  }

  /** Draws a hover preview (hover-preview.ts) of the mask under the cursor. */
  private showHover(out: DecodeOutput, prompt: Prompt): void {
    if (!this.image) return;
    const n = this.image.width * this.image.height;
    const { chosen } = selectMasks(out.iou, prompt);
    this.drawActiveMask(binaryFromLogits(out.masks, chosen * n, n, this.threshold), true);
    this.hoverCount++;
    this.el.root.dataset.hoverCount = String(this.hoverCount);
  }

  private hoverAllowed(): boolean {
    return this.el.hover.checked && this.tool === 'prompt' && !this.pointer.busy && isEmptyPrompt(this.prompt) && !this.active?.mask;
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
      ready: () => this.state === 'ready' && !!this.image,
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
        if (!this.active || !image) return null;
        const mask = this.active.mask ? this.active.mask.slice() : new Uint8Array(image.width * image.height);
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
        if (!this.active) return;
        this.active.mask = mask;
        this.active.dirty = true;
        this.history.push({ prompt: this.history.present.prompt, mask, lowRes: this.history.present.lowRes });
        this.lastOut = null;
        this.renderCandidates();
        this.renderObjects();
        this.drawActiveMask();
      },
      click: (p, label) => this.addPrompt(addClick(this.prompt, { x: p.x, y: p.y, label })),
      dragging: (box) => this.redraw(box),
      box: (box) => this.addPrompt(setBox(this.prompt, box)),
      cancelled: () => this.redraw(),
      hover: (ev) => {
        if (this.hoverAllowed()) this.hover.schedule(this.pointToImage(ev));
      },
      leave: () => {
        if (this.hoverAllowed() && this.hoverCount > 0) {
          this.hover.cancel();
          this.promptVersion++; // drops a preview still in flight
          this.drawActiveMask();
        }
      },
    };
  }

  private bindWheel(): void {
    this.el.viewport.addEventListener(
      'wheel',
      (ev) => {
        if (!this.image || this.state === null) return;
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
    el.helpButton.addEventListener('click', () => this.toggleHelp());
    el.helpPanel.querySelector('button.help-close')?.addEventListener('click', () => this.toggleHelp(false));
    document.addEventListener('keydown', (ev) => {
      if (isTyping(ev.target)) return;
      const command = commandFor(ev);
      if (!command) return;
      if (command === 'help' || !el.root.hidden) {
        ev.preventDefault();
        this.run(command);
      }
    });
    this.setTool('prompt');
  }

  toggleHelp(show = this.el.helpPanel.hidden): void {
    this.el.helpPanel.hidden = !show;
    this.el.helpButton.setAttribute('aria-expanded', String(show));
  }

  /** Executes a keyboard command. */
  run(command: Command): void {
    const el = this.el;
    const step = (input: HTMLInputElement, delta: number) => {
      input.value = String(Math.min(Number(input.max), Math.max(Number(input.min), Number(input.value) + delta)));
      this.redraw();
    };
    const pan = 40;
    switch (command) {
      case 'undo': return this.undo();
      case 'redo': return this.redo();
      case 'clear': return this.el.helpPanel.hidden ? this.clear() : this.toggleHelp(false);
      case 'pick1': case 'pick2': case 'pick3': {
        const i = Number(command.slice(-1)) - 1;
        const index = this.lastOut?.candidates[i];
        if (index !== undefined) this.pick(index);
        return;
      }
      case 'toolPrompt': return this.setTool('prompt');
      case 'toolBrush': return this.setTool('brush');
      case 'toolEraser': return this.setTool('eraser');
      case 'toolWindow': return this.windowLevel.available ? this.setTool('window') : undefined;
      case 'newObject': return this.newObject();
      case 'save': return void this.save();
      case 'toggleOutline': el.outline.checked = !el.outline.checked; return this.redraw();
      case 'opacityDown': return step(el.opacity, -10);
      case 'opacityUp': return step(el.opacity, 10);
      case 'toggleHover': el.hover.checked = !el.hover.checked; return;
      case 'zoomIn': return this.zoom.zoomBy(1.25);
      case 'zoomOut': return this.zoom.zoomBy(0.8);
      case 'zoomFit': return this.zoom.reset();
      case 'panLeft': return this.zoom.panBy(pan, 0);
      case 'panRight': return this.zoom.panBy(-pan, 0);
      case 'panUp': return this.zoom.panBy(0, pan);
      case 'panDown': return this.zoom.panBy(0, -pan);
      case 'help': return this.toggleHelp();
    }
  }

  private updateButtons(): void {
    const ready = this.state === 'ready';
    this.el.undoButton.disabled = !ready || !this.history.canUndo;
    this.el.redoButton.disabled = !ready || !this.history.canRedo;
    this.el.clearButton.disabled = !ready || (isEmptyPrompt(this.prompt) && !this.active?.mask);
    this.el.saveButton.disabled = !ready || !this.active?.mask || (this.active.id != null && !this.active.dirty);
    this.el.newObjectButton.disabled = !ready;
  }
}
