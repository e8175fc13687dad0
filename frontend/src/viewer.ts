/**
 * The viewer (#viewer): shows one image, loads its embedding into the decoder,
 * turns pointer input into prompts (points, negative points, boxes), keeps the
 * undo/redo history of the active object and draws the masks.
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
import { binaryFromLogits, drawBinaryMasks, drawImage, drawPromptMarkers, resetOverlay, type MaskStyle } from './canvas';
import type { DecodeOutput, Decoder, InitInfo } from './decoder';
import { assertDecoderEmbedding, parseEmbedding, parseEmbeddingAsync } from './embedding';
import { EmbeddingCache } from './embedding-cache';
import type { LocalImageSource } from './privacy'; // privacy mode
import { History } from './history';
import { decoderPointCount, selectMasks } from './mask-select';
import { newObject, objectFromApi, type SegObject } from './objects';
import { ObjectsPanel } from './objects-panel';
import { paintStroke } from './brush';
import {
  LABEL_NEGATIVE,
  LABEL_POSITIVE,
  addClick,
  buildPromptFeeds,
  emptyPrompt,
  isEmptyPrompt,
  promptToJSON,
  setBox,
  type Box,
  type ClickLabel,
  type Prompt,
} from './prompts';
import { rleEncode } from './rle';
import { commandFor, isTyping, renderHelp, type Command } from './shortcuts';
import { clampToImage, clientToImage, getPreprocessShape, type HW, type Point } from './transforms';
import { StageZoom } from './zoom';
import { dragWindow, windowToRgba, type DisplayInfo, type Window } from './window-level';

export type ViewerState = 'loading' | 'ready' | 'error';
export type Tool = 'prompt' | 'brush' | 'eraser' | 'window';

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

const EMBEDDING_RETRY_MS = 1000;
/** Pointer movement (CSS px) that turns a press into a box drag. */
const DRAG_THRESHOLD_PX = 5;
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

type Gesture =
  | { kind: 'press'; start: Point; startClient: Point; label: ClickLabel; pointerId: number }
  | { kind: 'box'; start: Point; current: Point; pointerId: number }
  | { kind: 'paint'; last: Point; mask: Uint8Array; value: 0 | 1; pointerId: number }
  | { kind: 'pan'; lastClient: Point; pointerId: number }
  | { kind: 'window'; startClient: Point; start: Window; pointerId: number };

export class Viewer {
  private readonly el: ViewerElements;
  private readonly deps: ViewerDeps;
  private readonly zoom: StageZoom;
  private readonly panel: ObjectsPanel;
  private readonly cache = new EmbeddingCache();
  private image: ImageObject | null = null;
  private generation = 0;
  private state: ViewerState | null = null;
  private waitingForEmbedding = false;
  private embeddingKey = '';
  /** The image's model version's multimask decoder (candidates for one click or one box). */
  private decoderUrl = '';
  /** Its official single-mask decoder (decoder_onnx_url): 4x less post-processing, used when SAM's
   * rule shows output 0 (several prompts) and for hover previews (best candidate of one click). */
  private singleDecoderUrl = '';
  private imageSize: HW = [0, 0];
  private inputSize: HW = [0, 0];
  /** The prompt including clicks whose decode is still pending. */
  private prompt: Prompt = emptyPrompt();
  private history = new History<Snapshot>(EMPTY);
  private objects: SegObject[] = [];
  private active: SegObject | null = null;
  /** Last decoder output for the active object (for picking another candidate). */
  private lastOut: { out: DecodeOutput; candidates: number[]; chosen: number } | null = null;
  private promptVersion = 0;
  private decodeCount = 0;
  private hoverCount = 0;
  private savedCount = 0;
  private threshold = 0.0;
  private tool: Tool = 'prompt';
  private gesture: Gesture | null = null;
  /** Embeddings handed to the decoder worker (it keeps the last few): their header facts, by key. */
  private readonly keptEmbeddings = new Map<string, { inputSize: HW; bytes: number }>();
  private hoverPending: Point | null = null;
  private hoverScheduled = false;
  /**
   * The latest hover preview's decode (running or done). Its prompt is one positive click on an
   * empty prompt without mask input, so a click on the same pixel with the same decoder needs
   * exactly this output: the click takes it instead of decoding again (usually already there).
   */
  private hoverDecoded: { gen: number; key: string; url: string; x: number; y: number; out: Promise<DecodeOutput | null> } | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private loaded = { image: false, embedding: false };
  private openedAt = 0;
  /** DICOM modality values and the current window (window/level display). */
  private modality: { values: Float32Array; display: DisplayInfo; window: Window } | null = null;

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
    this.bindPointer();
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
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
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
    this.modality = null;
    this.el.windowControls.hidden = true;
    for (const b of this.el.toolButtons) if (b.dataset.tool === 'window') b.hidden = true;
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
      void this.loadModalityValues(gen, image);
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
      const singleUrl = version ? this.deps.api.url(version.decoder_onnx_url) : '';
      const multiUrl = this.deps.api.url(image.decoder_url || singleUrl || model.decoder_onnx_url);
      // the multimask decoder, or (if it cannot be loaded) the official single-mask one: no candidates then
      const decoderReady = this.deps.decoder.init(multiUrl).then(
        (info) => ({ url: multiUrl, info }),
        async (err: Error) => {
          if (!singleUrl || singleUrl === multiUrl) throw err;
          console.warn(`multimask decoder unavailable (${err.message}); using ${singleUrl}`);
          return { url: singleUrl, info: await this.deps.decoder.init(singleUrl) };
        },
      );
      // The multimask decoder serves every prompt: its output 0 is what the single-mask export returns
      // for several prompts, and for one click it picks from 1-3 like select_masks does. Loading the
      // single-mask session as well cost ~1.5 s of session setup queued in the worker ahead of the
      // first click after a page load (BENCHMARKS.md, reopen); it is only the fallback now.

      // back to an image opened a moment ago: the decoder worker may still hold its embedding
      const key = `${this.isLocal(image) ? 'local' : 'server'}:${image.id}:${image.model_version}`;
      const kept = this.keptEmbeddings.get(key);
      if (kept) {
        await decoderReady;
        if (gen !== this.generation) return;
        if (await this.deps.decoder.useEmbedding(key)) {
          if (gen !== this.generation) return;
          this.el.root.dataset.embeddingSource = 'memory';
          this.el.root.dataset.embeddingBytes = String(kept.bytes);
          this.imageSize = [image.height, image.width];
          this.inputSize = kept.inputSize;
          await this.embeddingReady(gen, key, decoderReady);
          return;
        }
        this.keptEmbeddings.delete(key);
      }
      let buffer: ArrayBuffer;
      let source: 'cache' | 'network' | 'browser' = 'cache'; // 'browser': privacy mode, embedded here
      // privacy mode: the embedding is computed in this browser (encoder worker, Cache Storage)
      const local = this.isLocal(image) ? await this.deps.local!.embedding(image.id) : null;
      const cached = local ? null : await this.cache.get(image);
      if (local) {
        buffer = local.buffer;
        source = local.source;
      } else if (cached) {
        buffer = cached;
      } else {
        source = 'network';
        try {
          buffer = await this.deps.api.fetchEmbedding(image);
        } catch (err) {
          if ((err as { code?: string }).code === 'embedding_not_ready' && gen === this.generation) {
            this.waitingForEmbedding = false;
            this.retryTimer = setTimeout(() => {
              if (gen === this.generation && this.image) this.update(this.image);
            }, EMBEDDING_RETRY_MS);
            return;
          }
          throw err;
        }
        void this.cache.put(image, buffer.slice(0));
      }
      if (gen !== this.generation) return;
      this.el.root.dataset.embeddingSource = source;
      this.el.root.dataset.embeddingBytes = String(buffer.byteLength);
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
      this.keptEmbeddings.set(key, { inputSize: this.inputSize, bytes: buffer.byteLength });
      if (gen !== this.generation) return;
      await this.embeddingReady(gen, key, decoderReady);
    } catch (err) {
      this.waitingForEmbedding = false;
      this.fail(gen, `Cannot prepare ${image.filename} for segmentation: ${(err as Error).message}`);
    }
  }

  private async embeddingReady(gen: number, key: string, decoder: Promise<{ url: string; info: InitInfo }>): Promise<void> {
    const { url, info } = await decoder;
    if (gen !== this.generation) return;
    this.decoderUrl = url;
    this.singleDecoderUrl = '';
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

  private async loadModalityValues(gen: number, image: ImageObject): Promise<void> {
    const display = (image.display ?? {}) as DisplayInfo;
    if (!image.pixels_url || !display.windowing || !display.window) return;
    try {
      const buffer = await this.deps.api.fetchBinary(image.pixels_url);
      const parsed = parseEmbedding(buffer);
      if (gen !== this.generation) return;
      if (parsed.data.length !== image.width * image.height) throw new Error('the modality values do not match the image size');
      this.modality = { values: parsed.data, display, window: { ...display.window } };
    } catch (err) {
      if (gen === this.generation) this.deps.showError(`Window/level is unavailable for ${image.filename}: ${(err as Error).message}`);
      return;
    }
    const select = this.el.windowPreset;
    select.replaceChildren(
      ...[{ name: 'As stored', ...display.window }, ...(display.presets ?? [])].map((p, i) => {
        const o = document.createElement('option');
        o.value = String(i);
        o.textContent = p.name;
        o.dataset.center = String(p.center);
        o.dataset.width = String(p.width);
        return o;
      }),
    );
    select.onchange = () => {
      const o = select.selectedOptions[0];
      if (o) this.setWindow({ center: Number(o.dataset.center), width: Number(o.dataset.width) });
    };
    this.el.windowControls.hidden = false;
    for (const b of this.el.toolButtons) if (b.dataset.tool === 'window') b.hidden = false;
    this.setWindow(this.modality.window);
  }

  /** Redraws the image canvas through a window (DICOM only). */
  setWindow(w: Window): void {
    const m = this.modality;
    const image = this.image;
    if (!m || !image) return;
    m.window = w;
    const pixels = windowToRgba(m.values, w, (m.display.photometric ?? '').toUpperCase() === 'MONOCHROME1');
    const ctx = this.el.imageCanvas.getContext('2d');
    ctx?.putImageData(new ImageData(pixels, image.width, image.height), 0, 0);
    this.el.windowValue.textContent = `C ${w.center.toFixed(0)} / W ${w.width.toFixed(0)}`;
    this.el.root.dataset.window = JSON.stringify({ center: Number(w.center.toFixed(2)), width: Number(w.width.toFixed(2)) });
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
    if (!obj.mask) {
      this.deps.showError('Nothing to save yet: click on the object first.');
      return;
    }
    // privacy mode: never send anything about a local image to the server
    if (this.isLocal(image)) {
      this.deps.showError(
        'Privacy mode: this image stays on your device, so its masks are not saved on the server. Use the download buttons (PNG mask, COCO RLE JSON).',
      );
      return;
    }
    const gen = this.generation;
    this.el.saveButton.disabled = true;
    try {
      const saved = await this.deps.api.saveMask(
        image.id,
        {
          label: obj.label.trim() || 'object',
          color: obj.color,
          rle: rleEncode(obj.mask, image.height, image.width),
          prompts: { points: obj.prompt.points.map((c) => [c.x, c.y, c.label]), box: obj.prompt.box ? [...obj.prompt.box] : null },
        },
        obj.id,
      );
      if (gen !== this.generation) return;
      obj.id = saved.id;
      obj.dirty = false;
      obj.exportUrls = saved.export_urls as Record<string, string>;
      obj.author = saved.author;
      obj.modelVersion = saved.model_version;
      obj.updatedAt = saved.updated_at;
      this.savedCount++;
      this.el.root.dataset.savedCount = String(this.savedCount);
      this.el.imageExport.hidden = false;
      this.deps.clearError();
      this.el.info.textContent = `Saved "${obj.label}" (${saved.area} pixels).`;
      this.deps.onMasksChanged?.(image.id);
    } catch (err) {
      this.deps.showError(`Cannot save ${obj.label}: ${(err as Error).message}`);
    } finally {
      this.renderObjects();
      this.updateButtons();
    }
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
    const box = this.el.candidates;
    const last = this.lastOut;
    if (!last || last.candidates.length < 2) {
      box.hidden = true;
      box.replaceChildren();
      delete this.el.root.dataset.candidates;
      return;
    }
    box.hidden = false;
    const label = document.createElement('span');
    label.textContent = 'Candidates:';
    box.replaceChildren(
      label,
      ...last.candidates.map((index, i) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'candidate';
        b.dataset.index = String(index);
        b.dataset.iou = last.out.iou[index].toFixed(4);
        b.setAttribute('aria-pressed', String(index === last.chosen));
        b.textContent = `${i + 1}: IoU ${last.out.iou[index].toFixed(2)}`;
        b.addEventListener('click', () => this.pick(index));
        return b;
      }),
    );
    this.el.root.dataset.candidates = JSON.stringify(
      last.candidates.map((index) => ({ index, iou: Number(last.out.iou[index].toFixed(4)) })),
    );
    this.el.root.dataset.chosen = String(last.chosen);
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
    this.hoverPending = null;
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
    const url = this.urlFor(prompt, false);
    let out: DecodeOutput | null = null;
    let source: 'hover' | 'decoder' = 'decoder';
    try {
      const hover = maskInput ? null : this.hoverOutputFor(prompt, url, gen);
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

  /** The multimask decoder when candidates are to be offered, else the single-mask one (if loaded). */
  private urlFor(prompt: Prompt, preview: boolean): string {
    if (!this.singleDecoderUrl) return this.decoderUrl;
    return preview || decoderPointCount(prompt) > 2 ? this.singleDecoderUrl : this.decoderUrl;
  }

  /** The hover preview's decode when it is exactly the decode `prompt` needs, else null. */
  private hoverOutputFor(prompt: Prompt, url: string, gen: number): Promise<DecodeOutput | null> | null {
    const h = this.hoverDecoded;
    if (!h || h.gen !== gen || h.key !== this.embeddingKey || h.url !== url || prompt.box) return null;
    if (prompt.points.length !== 1) return null;
    const [p] = prompt.points;
    return p.label === LABEL_POSITIVE && p.x === h.x && p.y === h.y ? h.out : null;
  }

  /** Live preview of the mask under the cursor while the active object has no prompt. */
  private scheduleHover(p: Point): void {
    this.hoverPending = p;
    if (this.hoverScheduled) return;
    this.hoverScheduled = true;
    requestAnimationFrame(() => {
      this.hoverScheduled = false;
      void this.hoverDecode();
    });
  }

  private async hoverDecode(): Promise<void> {
    const p = this.hoverPending;
    if (!p || this.state !== 'ready' || !this.hoverAllowed()) return;
    const version = this.promptVersion;
    const gen = this.generation;
    const prompt = addClick(emptyPrompt(), { x: p.x, y: p.y, label: LABEL_POSITIVE });
    const feeds = buildPromptFeeds(prompt, this.imageSize, this.inputSize);
    let out: DecodeOutput | null = null;
    const url = this.urlFor(prompt, true);
    const pending = this.deps.decoder.decode(this.embeddingKey, feeds, url);
    this.hoverDecoded = { gen, key: this.embeddingKey, url, x: p.x, y: p.y, out: pending };
    try {
      out = await pending;
    } catch {
      return; // a preview failing is not worth an error message
    }
    if (!out || gen !== this.generation || version !== this.promptVersion || !this.hoverAllowed() || !this.image) return;
    const n = this.image.width * this.image.height;
    const { chosen } = selectMasks(out.iou, prompt);
    this.drawActiveMask(binaryFromLogits(out.masks, chosen * n, n, this.threshold), true);
    this.hoverCount++;
    this.el.root.dataset.hoverCount = String(this.hoverCount);
  }

  private hoverAllowed(): boolean {
    return this.el.hover.checked && this.tool === 'prompt' && !this.gesture && isEmptyPrompt(this.prompt) && !this.active?.mask;
  }

  // ------------------------------------------------------------------ input

  private pointToImage(ev: { clientX: number; clientY: number }): Point {
    const image = this.image!;
    const rect = this.el.overlay.getBoundingClientRect();
    return clampToImage(clientToImage(ev.clientX, ev.clientY, rect, image.width, image.height), image.width, image.height);
  }

  private bindPointer(): void {
    const { stage, viewport } = this.el;
    stage.addEventListener('contextmenu', (ev) => ev.preventDefault());
    stage.addEventListener('pointerdown', (ev) => {
      if (this.state !== 'ready' || !this.image) return;
      const rect = this.el.overlay.getBoundingClientRect();
      if (rect.width <= 0 || rect.height <= 0) return;
      if (ev.button === 1 || (ev.button === 0 && ev.altKey)) {
        ev.preventDefault();
        this.gesture = { kind: 'pan', lastClient: { x: ev.clientX, y: ev.clientY }, pointerId: ev.pointerId };
      } else if (this.tool === 'window' && ev.button === 0) {
        if (!this.modality) return;
        this.gesture = { kind: 'window', startClient: { x: ev.clientX, y: ev.clientY }, start: { ...this.modality.window }, pointerId: ev.pointerId };
      } else if (this.tool !== 'prompt' && ev.button === 0) {
        if (!this.active) return;
        const mask = this.active.mask ? this.active.mask.slice() : new Uint8Array(this.image.width * this.image.height);
        const p = this.pointToImage(ev);
        this.gesture = { kind: 'paint', last: p, mask, value: this.tool === 'brush' ? 1 : 0, pointerId: ev.pointerId };
        paintStroke(mask, this.image.width, this.image.height, p, p, this.brushRadius(), this.gesture.value);
        this.drawActiveMask(mask);
      } else if (ev.button === 0 || ev.button === 2) {
        const label = ev.button === 2 || ev.shiftKey ? LABEL_NEGATIVE : LABEL_POSITIVE;
        this.gesture = { kind: 'press', start: this.pointToImage(ev), startClient: { x: ev.clientX, y: ev.clientY }, label, pointerId: ev.pointerId };
      } else {
        return;
      }
      stage.setPointerCapture?.(ev.pointerId);
    });
    stage.addEventListener('pointermove', (ev) => {
      const g = this.gesture;
      if (!this.image || this.state !== 'ready') return;
      if (!g) {
        if (this.hoverAllowed()) this.scheduleHover(this.pointToImage(ev));
        return;
      }
      if (g.pointerId !== ev.pointerId) return;
      if (g.kind === 'window') {
        this.setWindow(dragWindow(g.start, ev.clientX - g.startClient.x, ev.clientY - g.startClient.y, this.modality?.display.range));
      } else if (g.kind === 'pan') {
        this.zoom.panBy(ev.clientX - g.lastClient.x, ev.clientY - g.lastClient.y);
        g.lastClient = { x: ev.clientX, y: ev.clientY };
      } else if (g.kind === 'paint') {
        const p = this.pointToImage(ev);
        paintStroke(g.mask, this.image.width, this.image.height, g.last, p, this.brushRadius(), g.value);
        g.last = p;
        this.drawActiveMask(g.mask);
      } else if (g.kind === 'press') {
        if (Math.hypot(ev.clientX - g.startClient.x, ev.clientY - g.startClient.y) >= DRAG_THRESHOLD_PX && g.label === LABEL_POSITIVE) {
          this.gesture = { kind: 'box', start: g.start, current: this.pointToImage(ev), pointerId: g.pointerId };
          this.redraw(this.dragBox());
        }
      } else if (g.kind === 'box') {
        g.current = this.pointToImage(ev);
        this.redraw(this.dragBox());
      }
    });
    const finish = (ev: PointerEvent, cancelled: boolean) => {
      const g = this.gesture;
      if (!g || g.pointerId !== ev.pointerId) return;
      this.gesture = null;
      if (cancelled || !this.image) {
        this.redraw();
        return;
      }
      if (g.kind === 'press') {
        this.addPrompt(addClick(this.prompt, { x: g.start.x, y: g.start.y, label: g.label }));
      } else if (g.kind === 'box') {
        const box = this.dragBox(g);
        if (box && Math.abs(box[2] - box[0]) >= 1 && Math.abs(box[3] - box[1]) >= 1) this.addPrompt(setBox(this.prompt, box));
        else this.redraw();
      } else if (g.kind === 'paint' && this.active) {
        this.active.mask = g.mask;
        this.active.dirty = true;
        this.history.push({ prompt: this.history.present.prompt, mask: g.mask, lowRes: this.history.present.lowRes });
        this.lastOut = null;
        this.renderCandidates();
        this.renderObjects();
        this.drawActiveMask();
      }
    };
    stage.addEventListener('pointerup', (ev) => finish(ev, false));
    stage.addEventListener('pointercancel', (ev) => finish(ev, true));
    stage.addEventListener('pointerleave', () => {
      if (!this.gesture && this.hoverAllowed() && this.hoverCount > 0) {
        this.hoverPending = null;
        this.promptVersion++; // drops a preview still in flight
        this.drawActiveMask();
      }
    });
    viewport.addEventListener(
      'wheel',
      (ev) => {
        if (!this.image || this.state === null) return;
        ev.preventDefault();
        this.zoom.zoomBy(ev.deltaY < 0 ? 1.25 : 0.8, this.zoom.anchorOf(ev));
      },
      { passive: false },
    );
  }

  private dragBox(g: Gesture | null = this.gesture): Box | null {
    if (!g || g.kind !== 'box') return null;
    return [Math.min(g.start.x, g.current.x), Math.min(g.start.y, g.current.y), Math.max(g.start.x, g.current.x), Math.max(g.start.y, g.current.y)];
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
      this.hoverPending = null;
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
      case 'toolWindow': return this.modality ? this.setTool('window') : undefined;
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
