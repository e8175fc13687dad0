/**
 * Privacy mode: the student encoder runs in this browser, so the image never
 * leaves the machine (docs/api.md, "Privacy mode").
 *
 * - Mode resolution: the deployment setting (`KDSAM_PRIVACY_MODE`: off |
 *   optional | required, from GET /api/privacy/) and, when optional, the user's
 *   choice, kept in localStorage (`kdsam.privacy-mode` = privacy | server;
 *   default server).
 * - Local images: a PNG/JPEG/BMP file is decoded here (createImageBitmap, no
 *   colour-space conversion), hashed (SHA-256 of the file bytes), embedded in
 *   the encoder worker and the embedding kept in the session's Cache Storage
 *   (session-caches.ts) under hash + encoder version. The viewer then opens it like a server image (a
 *   negative id, never sent to the server) and the decoder flow is unchanged.
 * - Masks of local images are never saved on the server: the viewer says so and
 *   the user downloads them (PNG mask, COCO RLE JSON) from the browser.
 */
import type { ImageObject, ModelVersion } from './api-types';
import type { BrowserEncoder, EncoderInfo } from './encoder';
import { sessionCaches, type SessionCaches } from './session-caches';
import type { PrivacyConfig, PrivacySetting } from './privacy-api';
import { rleEncode } from './rle';

export const PRIVACY_STORAGE_KEY = 'kdsam.privacy-mode';
export type UserChoice = 'privacy' | 'server';

export const PRIVACY_BADGE = 'Privacy mode: the image stays on this device';
export const SERVER_BADGE = 'Server mode: images are uploaded and embedded on the server';

export interface ResolvedMode {
  /** True: images are embedded in the browser and never uploaded. */
  privacy: boolean;
  /** The user may switch (deployment setting "optional"). */
  canToggle: boolean;
  setting: PrivacySetting;
}

/** Deployment setting + user choice → the mode in effect. Unknown settings count as "off". */
export function resolvePrivacyMode(setting: string | null | undefined, choice: string | null | undefined): ResolvedMode {
  if (setting === 'required') return { privacy: true, canToggle: false, setting };
  if (setting === 'optional') return { privacy: choice === 'privacy', canToggle: true, setting };
  return { privacy: false, canToggle: false, setting: 'off' };
}

export function readChoice(storage: Pick<Storage, 'getItem'> | null = safeStorage()): UserChoice | null {
  const v = storage?.getItem(PRIVACY_STORAGE_KEY) ?? null;
  return v === 'privacy' || v === 'server' ? v : null;
}

export function writeChoice(choice: UserChoice, storage: Pick<Storage, 'setItem'> | null = safeStorage()): void {
  try {
    storage?.setItem(PRIVACY_STORAGE_KEY, choice);
  } catch {
    /* private browsing: the choice lasts for this page only */
  }
}

function safeStorage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

/** The format of a file from its first bytes, as the browser path accepts it (null: not supported here). */
export function sniffFormat(bytes: Uint8Array): 'png' | 'jpeg' | 'bmp' | 'tiff' | 'dicom' | null {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'jpeg';
  if (bytes[0] === 0x42 && bytes[1] === 0x4d) return 'bmp';
  if ((bytes[0] === 0x49 && bytes[1] === 0x49) || (bytes[0] === 0x4d && bytes[1] === 0x4d)) return 'tiff';
  if (bytes.length > 132 && String.fromCharCode(...bytes.subarray(128, 132)) === 'DICM') return 'dicom';
  return null;
}

export async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A raw float32 KDEM buffer (docs/api.md) so the viewer reads browser embeddings like server ones. */
export function encodeKdem(
  data: Float32Array,
  dims: number[],
  imageSize: [number, number],
  inputSize: [number, number],
  modelVersion: number | null,
  extra: Record<string, unknown> = {},
): ArrayBuffer {
  let header = JSON.stringify({ version: 1, dtype: 'float32', shape: dims, encoding: 'raw', image_size: imageSize, input_size: inputSize, model_version: modelVersion, ...extra });
  while ((8 + header.length) % 8 !== 0) header += ' ';
  const headerBytes = new TextEncoder().encode(header);
  const out = new ArrayBuffer(8 + headerBytes.length + data.byteLength);
  const u8 = new Uint8Array(out);
  u8.set([0x4b, 0x44, 0x45, 0x4d]);
  new DataView(out).setUint32(4, headerBytes.length, true);
  u8.set(headerBytes, 8);
  new Float32Array(out, 8 + headerBytes.length).set(data); // little-endian hosts (every browser)
  return out;
}

/** Cache Storage key of a browser embedding: image content hash + encoder version. */
export function browserEmbeddingKey(sha256: string, encoderVersion: string): string {
  return `/__kdsam-cache__/browser-embeddings/${encoderVersion}/${sha256}.kdem`;
}

/** A row-major 0/1 mask as an 8-bit greyscale PNG (255 inside), like the server's PNG export. */
export async function maskPng(mask: Uint8Array, height: number, width: number): Promise<Blob> {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i] ? 255 : 0;
    rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = v;
    rgba[4 * i + 3] = 255;
  }
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext('2d')!.putImageData(new ImageData(rgba, width, height), 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}

export interface ExportObject {
  label: string;
  mask: Uint8Array;
}

/** COCO JSON (uncompressed RLE, one category per label) of a local image's objects, made in the browser. */
export function cocoJson(image: { filename: string; width: number; height: number }, objects: ExportObject[]): string {
  const labels = [...new Set(objects.map((o) => o.label))];
  return JSON.stringify({
    images: [{ id: 1, file_name: image.filename, width: image.width, height: image.height }],
    categories: labels.map((name, i) => ({ id: i + 1, name })),
    annotations: objects.map((o, i) => {
      let area = 0;
      for (let k = 0; k < o.mask.length; k++) area += o.mask[k] ? 1 : 0;
      return { id: i + 1, image_id: 1, category_id: labels.indexOf(o.label) + 1, iscrowd: 1, area, segmentation: rleEncode(o.mask, image.height, image.width) };
    }),
  });
}

export function download(blob: Blob, filename: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** What the viewer needs for a local (privacy-mode) image. */
export interface LocalImageSource {
  isLocal(imageId: number): boolean;
  file(imageId: number): Blob;
  /** The KDEM bytes of the browser embedding, and whether it came from Cache Storage. */
  embedding(imageId: number): Promise<{ buffer: ArrayBuffer; source: 'cache' | 'browser' }>;
}

interface LocalEntry {
  image: ImageObject;
  file: Blob;
  embedding: Promise<{ buffer: ArrayBuffer; source: 'cache' | 'browser' }>;
}

export class NotSupportedInPrivacyMode extends Error {}

/** Local images: decode, hash, embed in the worker, cache. */
export class LocalImages implements LocalImageSource {
  private readonly entries = new Map<number, LocalEntry>();
  private nextId = -1;
  lastInfo: EncoderInfo | null = null;

  constructor(
    private readonly encoder: BrowserEncoder,
    private readonly config: () => PrivacyConfig | null,
    private readonly storage: Pick<SessionCaches, 'openEmbeddings'> = sessionCaches,
    private readonly onTiming?: (t: { preprocessMs: number; runMs: number; info: EncoderInfo }) => void,
  ) {}

  isLocal(imageId: number): boolean {
    return this.entries.has(imageId);
  }

  file(imageId: number): Blob {
    const e = this.entries.get(imageId);
    if (!e) throw new Error(`no local image ${imageId}`);
    return e.file;
  }

  embedding(imageId: number): Promise<{ buffer: ArrayBuffer; source: 'cache' | 'browser' }> {
    const e = this.entries.get(imageId);
    if (!e) return Promise.reject(new Error(`no local image ${imageId}`));
    return e.embedding;
  }

  /** Opens a file in the browser only; resolves to the image object the viewer shows. */
  async add(file: File, model: ModelVersion): Promise<ImageObject> {
    const config = this.config();
    if (!config?.encoder_url || !config.encoder_version) {
      throw new Error('Privacy mode needs a KD-SAM model version with a browser encoder; none is available.');
    }
    const bytes = await file.arrayBuffer();
    const format = sniffFormat(new Uint8Array(bytes, 0, Math.min(bytes.byteLength, 200)));
    if (format === 'tiff' || format === 'dicom' || format === null) {
      throw new NotSupportedInPrivacyMode(
        `${file.name}: ${format ? format.toUpperCase() : 'this file type'} is not supported in privacy mode (PNG, JPEG or BMP only); switch to server mode to upload it.`,
      );
    }
    const bitmap = await createImageBitmap(new Blob([bytes]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const { width, height } = bitmap;
    const sha256 = await sha256Hex(bytes);
    const id = this.nextId--;
    const image: ImageObject = {
      id,
      filename: file.name,
      width,
      height,
      status: 'ready',
      error: '',
      created_at: new Date().toISOString(),
      model_version: config.model_version ?? model.id,
      file_url: '',
      embedding_url: '',
      sha256,
      queue_position: null,
      mask_count: 0,
      masks_url: '',
      decoder_url: `/segmentation/decoders/${config.model_version ?? model.id}/decoder-multimask.onnx`,
      source_format: format,
      display: {},
      pixels_url: null,
    } as unknown as ImageObject;
    const embedding = this.embed(bitmap, image, config);
    embedding.catch(() => undefined);
    this.entries.set(id, { image, file: new Blob([bytes], { type: file.type || `image/${format}` }), embedding });
    return image;
  }

  private async embed(bitmap: ImageBitmap, image: ImageObject, config: PrivacyConfig): Promise<{ buffer: ArrayBuffer; source: 'cache' | 'browser' }> {
    const key = browserEmbeddingKey(image.sha256, config.encoder_version!);
    const cache = await this.storage.openEmbeddings();
    const hit = await cache?.match(key).catch(() => undefined);
    if (hit) {
      bitmap.close();
      return { buffer: await hit.arrayBuffer(), source: 'cache' };
    }
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    const pixels = ctx.getImageData(0, 0, image.width, image.height).data;
    const info = await this.encoder.init(config.encoder_url!);
    this.lastInfo = info;
    const out = await this.encoder.embed(pixels, image.width, image.height);
    this.onTiming?.({ preprocessMs: out.preprocessMs, runMs: out.runMs, info });
    const buffer = encodeKdem(out.data, out.dims, [image.height, image.width], out.inputSize, image.model_version, { source: 'browser', encoder_version: config.encoder_version });
    await cache?.put(key, new Response(buffer.slice(0), { headers: { 'Content-Type': 'application/x-kdsam-embedding' } })).catch(() => undefined);
    return { buffer, source: 'browser' };
  }
}

export interface PrivacyUiElements {
  badge: HTMLElement;
  toggle: HTMLInputElement;
  toggleLabel: HTMLElement;
  exportsPanel: HTMLElement;
  downloadPng: HTMLButtonElement;
  downloadCoco: HTMLButtonElement;
}

export interface ExportSource {
  exportState(): { image: ImageObject; objects: { label: string; mask: Uint8Array; active: boolean }[] } | null;
}

/**
 * The privacy-mode UI: badge, the per-user toggle (setting "optional"), the
 * browser-side downloads of a local image's masks. `active` says whether new
 * files are opened in the browser instead of uploaded.
 */
export class PrivacyUi {
  mode: ResolvedMode = resolvePrivacyMode('off', null);
  config: PrivacyConfig | null = null;
  private exportSource: ExportSource | null = null;

  constructor(
    private readonly el: PrivacyUiElements,
    readonly local: LocalImages,
    private readonly showError: (message: string) => void,
  ) {
    el.toggle.addEventListener('change', () => {
      writeChoice(el.toggle.checked ? 'privacy' : 'server');
      this.apply(resolvePrivacyMode(this.mode.setting, readChoice()));
    });
    el.downloadPng.addEventListener('click', () => void this.downloadPng());
    el.downloadCoco.addEventListener('click', () => this.downloadCoco());
  }

  get active(): boolean {
    return this.mode.privacy;
  }

  setExportSource(source: ExportSource): void {
    this.exportSource = source;
  }

  /** Reads the deployment setting (GET /api/privacy/); an error leaves server mode (or required, fail closed). */
  async load(fetchConfig: () => Promise<PrivacyConfig>): Promise<void> {
    try {
      this.config = await fetchConfig();
      this.apply(resolvePrivacyMode(this.config.mode, readChoice()));
    } catch (err) {
      this.apply(resolvePrivacyMode('off', null));
      console.warn(`privacy mode unavailable: ${(err as Error).message}`);
    }
  }

  apply(mode: ResolvedMode): void {
    this.mode = mode;
    const { badge, toggle, toggleLabel } = this.el;
    badge.textContent = mode.privacy ? PRIVACY_BADGE : SERVER_BADGE;
    badge.dataset.mode = mode.privacy ? 'privacy' : 'server';
    badge.title = mode.setting === 'required' ? 'Required by this deployment' : mode.canToggle ? 'Your choice, kept in this browser' : '';
    toggleLabel.hidden = !mode.canToggle;
    toggle.checked = mode.privacy;
    document.body.dataset.privacyMode = mode.privacy ? 'privacy' : 'server';
    document.body.dataset.privacySetting = mode.setting;
  }

  /** Called when the viewer opens an image: the download panel is for local images only. */
  onOpen(image: ImageObject): void {
    this.el.exportsPanel.hidden = !this.local.isLocal(image.id);
  }

  private async downloadPng(): Promise<void> {
    const state = this.exportSource?.exportState();
    const active = state?.objects.find((o) => o.active) ?? state?.objects[0];
    if (!state || !active) {
      this.showError('Nothing to download yet: click on the object first.');
      return;
    }
    const base = state.image.filename.replace(/\.[^.]+$/, '');
    download(await maskPng(active.mask, state.image.height, state.image.width), `${base}-${active.label}.png`);
  }

  private downloadCoco(): void {
    const state = this.exportSource?.exportState();
    if (!state || state.objects.length === 0) {
      this.showError('Nothing to download yet: click on the object first.');
      return;
    }
    const base = state.image.filename.replace(/\.[^.]+$/, '');
    download(new Blob([cocoJson(state.image, state.objects)], { type: 'application/json' }), `${base}-coco.json`);
  }
}
