/**
 * Saving one object's mask on the server: the request body (COCO RLE and the prompts that made
 * it), creating or replacing the saved version, and the saved facts written back to the object.
 * Privacy mode's local images are never sent.
 */
import type { MaskObject, MaskWrite } from './api';
import type { ImageObject } from './api-types';
import type { SegObject } from './objects';
import { rleEncode } from './rle';

export const NOTHING_TO_SAVE = 'Nothing to save yet: click on the object first.';
export const LOCAL_NOT_SAVED =
  'Privacy mode: this image stays on your device, so its masks are not saved on the server. Use the download buttons (PNG mask, COCO RLE JSON).';

/** The request body for `obj` with mask `mask` (row-major, the image's size). */
export function maskWrite(obj: Pick<SegObject, 'label' | 'color' | 'prompt'>, mask: Uint8Array, image: Pick<ImageObject, 'width' | 'height'>): MaskWrite {
  return {
    label: obj.label.trim() || 'object',
    color: obj.color,
    rle: rleEncode(mask, image.height, image.width),
    prompts: { points: obj.prompt.points.map((c) => [c.x, c.y, c.label]), box: obj.prompt.box ? [...obj.prompt.box] : null },
  };
}

/** Writes the server's facts of a saved mask back to its object (no longer dirty). */
export function applySaved(obj: SegObject, saved: MaskObject): void {
  obj.id = saved.id;
  obj.dirty = false;
  obj.exportUrls = saved.export_urls as Record<string, string>;
  obj.author = saved.author;
  obj.modelVersion = saved.model_version;
  obj.updatedAt = saved.updated_at;
}

export interface MaskSaveDeps {
  /** Creates the mask, or replaces mask `maskId` (api.ts). */
  saveMask(imageId: number, body: MaskWrite, maskId?: number | null): Promise<MaskObject>;
  /** Privacy mode: the image is local (never sent). */
  isLocal: boolean;
  /** False once the viewer moved on to another image: the reply is then ignored. */
  isCurrent(): boolean;
  showError(message: string): void;
  /** The request is about to be sent. */
  started(): void;
  /** The server saved `obj` (its facts are written back already). */
  saved(obj: SegObject, saved: MaskObject): void;
  /** The request is over, whatever its outcome. */
  finished(): void;
}

/** Saves `obj` (creates it, or replaces its saved version); errors are shown, not thrown. */
export async function saveObject(obj: SegObject, image: ImageObject, deps: MaskSaveDeps): Promise<void> {
  if (!obj.mask) {
    deps.showError(NOTHING_TO_SAVE);
    return;
  }
  // privacy mode: never send anything about a local image to the server
  if (deps.isLocal) {
    deps.showError(LOCAL_NOT_SAVED);
    return;
  }
  deps.started();
  try {
    const saved = await deps.saveMask(image.id, maskWrite(obj, obj.mask, image), obj.id);
    if (!deps.isCurrent()) return;
    applySaved(obj, saved);
    deps.saved(obj, saved);
  } catch (err) {
    deps.showError(`Cannot save ${obj.label}: ${(err as Error).message}`);
  } finally {
    deps.finished();
  }
}
