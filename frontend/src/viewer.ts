/**
 * The viewer (#viewer): shows one image, loads its embedding into the decoder,
 * turns clicks into prompts and draws each decoded mask.
 *
 * DOM contract: data-image-id, data-state (loading | ready | error),
 * data-decode-count (incremented per drawn decode), data-last-prompt (JSON in
 * original image pixels), canvas#image-canvas and canvas#mask-overlay at the
 * image's natural size.
 */
import type { ApiClient } from './api';
import type { ImageObject, ModelVersion } from './api-types';
import { clearMask, drawClicks, drawImage, drawMask, resetOverlay } from './canvas';
import type { Decoder } from './decoder';
import { assertDecoderEmbedding, parseEmbedding } from './embedding';
import {
  LABEL_NEGATIVE,
  LABEL_POSITIVE,
  addClick,
  buildPromptFeeds,
  emptyPrompt,
  isEmptyPrompt,
  promptToJSON,
  type ClickLabel,
  type Prompt,
} from './prompts';
import { clampToImage, clientToImage, getPreprocessShape, type HW } from './transforms';

export type ViewerState = 'loading' | 'ready' | 'error';

export interface ViewerElements {
  root: HTMLElement;
  stage: HTMLElement;
  imageCanvas: HTMLCanvasElement;
  markerCanvas: HTMLCanvasElement;
  overlay: HTMLCanvasElement;
  clearButton: HTMLButtonElement;
  title: HTMLElement;
  info: HTMLElement;
}

export interface ViewerDeps {
  api: ApiClient;
  decoder: Decoder;
  /** Resolves once the active model and its decoder session are loaded. */
  model: Promise<ModelVersion>;
  showError(message: string): void;
  clearError(): void;
}

const EMBEDDING_RETRY_MS = 1000;

/** Decodes an image file; prefers the orientation whose size matches the server's. */
async function loadBitmap(blob: Blob, width: number, height: number): Promise<ImageBitmap> {
  const bitmap = await createImageBitmap(blob);
  if (bitmap.width === width && bitmap.height === height) return bitmap;
  // The server may have measured the stored pixels without applying EXIF orientation.
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
  private image: ImageObject | null = null;
  /** Increments per open(); async work of an older open is dropped. */
  private generation = 0;
  private state: ViewerState | null = null;
  private waitingForEmbedding = false;
  private embeddingKey = '';
  private imageSize: HW = [0, 0];
  private inputSize: HW = [0, 0];
  private prompt: Prompt = emptyPrompt();
  /** Increments per prompt change; a result for an older prompt is dropped. */
  private promptVersion = 0;
  private decodeCount = 0;
  private threshold = 0.0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private loaded = { image: false, embedding: false };

  constructor(elements: ViewerElements, deps: ViewerDeps) {
    this.el = elements;
    this.deps = deps;
    const { stage, clearButton } = elements;
    stage.addEventListener('click', (ev) => {
      if (ev.button !== 0) return;
      this.onClick(ev, ev.shiftKey ? LABEL_NEGATIVE : LABEL_POSITIVE);
    });
    stage.addEventListener('contextmenu', (ev) => {
      ev.preventDefault();
      this.onClick(ev, LABEL_NEGATIVE);
    });
    clearButton.addEventListener('click', () => this.clear());
    clearButton.disabled = true;
    window.addEventListener('resize', () => this.fitStage());
  }

  /**
   * CSS size of the stage (and so of all three canvases): the image's aspect
   * ratio, as large as fits the viewer and the window (small images up to 4x).
   */
  fitStage(): void {
    const image = this.image;
    const stage = this.el.stage;
    if (!image || !image.width || !image.height) {
      stage.style.width = stage.style.height = '0px';
      return;
    }
    const availW = Math.max(100, (stage.parentElement ?? this.el.root).clientWidth);
    const top = stage.getBoundingClientRect().top + window.scrollY;
    const availH = Math.max(100, window.innerHeight - Math.min(top, window.innerHeight / 2) - 48);
    const scale = Math.min(availW / image.width, availH / image.height, 4);
    stage.style.width = `${Math.max(1, Math.floor(image.width * scale))}px`;
    stage.style.height = `${Math.max(1, Math.floor(image.height * scale))}px`;
  }

  get currentImageId(): number | null {
    return this.image?.id ?? null;
  }

  /** Opens an image; re-opening the image already shown only retries after an error. */
  open(image: ImageObject): void {
    if (this.image?.id === image.id && this.state !== 'error') {
      this.update(image);
      return;
    }
    const gen = ++this.generation;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.image = image;
    this.prompt = emptyPrompt();
    this.promptVersion++;
    this.decoder.cancelPending();
    this.decodeCount = 0;
    this.embeddingKey = '';
    this.waitingForEmbedding = false;
    this.loaded = { image: false, embedding: false };

    const root = this.el.root;
    root.dataset.imageId = String(image.id);
    root.dataset.decodeCount = '0';
    delete root.dataset.lastPrompt;
    root.hidden = false;
    this.el.title.textContent = image.filename;
    this.el.info.textContent = '';
    this.el.clearButton.disabled = true;
    this.setState('loading');
    this.fitStage();

    void this.loadImage(gen, image);
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

  private get decoder(): Decoder {
    return this.deps.decoder;
  }

  private setState(state: ViewerState): void {
    this.state = state;
    this.el.root.dataset.state = state;
    this.el.root.setAttribute('aria-busy', state === 'loading' ? 'true' : 'false');
  }

  private fail(gen: number, message: string): void {
    if (gen !== this.generation) return;
    this.setState('error');
    this.el.info.textContent = '';
    this.deps.showError(message);
  }

  private async loadImage(gen: number, image: ImageObject): Promise<void> {
    resetOverlay(this.el.overlay, image.width, image.height);
    try {
      const blob = await this.deps.api.fetchImageFile(image);
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
      resetOverlay(this.el.overlay, image.width, image.height);
      drawClicks(this.el.markerCanvas, image.width, image.height, []);
      this.loaded.image = true;
      this.maybeReady(gen);
    } catch (err) {
      this.fail(gen, `Cannot show ${image.filename}: ${(err as Error).message}`);
    }
  }

  private async loadEmbedding(gen: number, image: ImageObject): Promise<void> {
    this.waitingForEmbedding = true;
    try {
      const model = await this.deps.model;
      if (gen !== this.generation) return;
      this.threshold = model.mask_threshold ?? 0.0;
      let buffer: ArrayBuffer;
      try {
        buffer = await this.deps.api.fetchEmbedding(image);
      } catch (err) {
        if ((err as { code?: string }).code === 'embedding_not_ready' && gen === this.generation) {
          // the status said ready but the embedding is not there yet: retry
          this.waitingForEmbedding = false;
          this.retryTimer = setTimeout(() => {
            if (gen === this.generation && this.image) this.update(this.image);
          }, EMBEDDING_RETRY_MS);
          return;
        }
        throw err;
      }
      if (gen !== this.generation) return;
      const emb = parseEmbedding(buffer);
      assertDecoderEmbedding(emb, image);
      if (emb.header.model_version != null && image.model_version != null && emb.header.model_version !== image.model_version) {
        console.warn(`embedding model_version ${emb.header.model_version} != image model_version ${image.model_version}`);
      }
      this.imageSize = [image.height, image.width];
      this.inputSize = emb.header.input_size;
      const expected = getPreprocessShape(image.height, image.width, model.image_size || 1024);
      if (expected[0] !== this.inputSize[0] || expected[1] !== this.inputSize[1]) {
        console.warn(`embedding input_size ${this.inputSize} differs from ResizeLongestSide ${expected}; using the header`);
      }
      const key = `${image.id}:${gen}`;
      await this.decoder.setEmbedding(key, emb.data, emb.dims);
      if (gen !== this.generation) return;
      this.embeddingKey = key;
      this.loaded.embedding = true;
      this.maybeReady(gen);
    } catch (err) {
      this.waitingForEmbedding = false;
      this.fail(gen, `Cannot prepare ${image.filename} for segmentation: ${(err as Error).message}`);
    }
  }

  private maybeReady(gen: number): void {
    if (gen !== this.generation || this.state === 'error') return;
    if (!this.loaded.image || !this.loaded.embedding) return;
    this.setState('ready');
    this.deps.clearError();
    this.el.info.textContent = 'Click to add a point (shift+click or right click: negative point).';
  }

  private onClick(ev: MouseEvent, label: ClickLabel): void {
    if (this.state !== 'ready' || !this.image) return;
    const rect = this.el.overlay.getBoundingClientRect();
    if (rect.width <= 0 || rect.height <= 0) return;
    const { width, height } = this.image;
    const p = clampToImage(clientToImage(ev.clientX, ev.clientY, rect, width, height), width, height);
    this.prompt = addClick(this.prompt, { x: p.x, y: p.y, label });
    drawClicks(this.el.markerCanvas, width, height, this.prompt.points);
    this.el.clearButton.disabled = false;
    void this.decode();
  }

  private async decode(): Promise<void> {
    const prompt = this.prompt;
    const version = ++this.promptVersion;
    const gen = this.generation;
    if (isEmptyPrompt(prompt)) return;
    const feeds = buildPromptFeeds(prompt, this.imageSize, this.inputSize);
    let out;
    try {
      out = await this.decoder.decode(this.embeddingKey, feeds);
    } catch (err) {
      if (gen === this.generation && version === this.promptVersion) {
        this.deps.showError(`Decoding failed: ${(err as Error).message}`);
      }
      return;
    }
    if (!out || gen !== this.generation || version !== this.promptVersion || !this.image) return;
    const [h, w] = out.maskDims.slice(-2);
    if (w !== this.image.width || h !== this.image.height) {
      this.deps.showError(
        `The decoder returned a ${w}×${h} mask for a ${this.image.width}×${this.image.height} image`,
      );
      return;
    }
    const area = drawMask(this.el.overlay, out.masks, w, h, this.threshold);
    this.decodeCount++;
    this.el.root.dataset.decodeCount = String(this.decodeCount);
    this.el.root.dataset.lastPrompt = promptToJSON(prompt);
    const iou = out.iou.length ? out.iou[0].toFixed(3) : '?';
    const pct = ((100 * area) / (w * h)).toFixed(1);
    this.el.info.textContent = `${prompt.points.length} point(s) · predicted IoU ${iou} · mask ${pct}% of the image · ${out.runMs.toFixed(0)} ms`;
  }

  /** Removes all points and the mask. */
  clear(): void {
    this.prompt = emptyPrompt();
    this.promptVersion++;
    this.decoder.cancelPending();
    clearMask(this.el.overlay);
    if (this.image) drawClicks(this.el.markerCanvas, this.image.width, this.image.height, []);
    this.el.clearButton.disabled = true;
    this.el.root.dataset.lastPrompt = promptToJSON(this.prompt);
    if (this.state === 'ready') this.el.info.textContent = 'Cleared. Click to add a point.';
  }
}
