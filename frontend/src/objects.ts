/**
 * The labelled objects of one image (lesion A, lesion B, …): their masks, the
 * prompts that made them, and whether they are saved. Rendering lives in
 * objects-panel.ts; this module is plain data.
 */
import type { MaskObject } from './api-types';
import type { Prompt } from './prompts';
import { rleDecode, type Rle } from './rle';

export const OBJECT_COLORS = ['#1e90ff', '#ff4d4f', '#22c55e', '#f59e0b', '#a855f7', '#14b8a6', '#ec4899', '#84cc16'];

export interface SegObject {
  /** Local key, unique within the page. */
  key: number;
  /** Server id once saved. */
  id: number | null;
  label: string;
  color: string;
  /** Binary mask (row-major, 1 inside) at the image's size, or null before the first decode. */
  mask: Uint8Array | null;
  prompt: Prompt;
  /** Changed since the last save. */
  dirty: boolean;
  exportUrls: Record<string, string> | null;
  author: string | null;
  modelVersion: number | null;
  updatedAt: string | null;
}

let nextKey = 1;

/** Default label for the n-th object (0-based): "lesion A", "lesion B", … */
export function defaultLabel(index: number): string {
  let name = '';
  let n = index;
  do {
    name = String.fromCharCode(65 + (n % 26)) + name;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `lesion ${name}`;
}

export function newObject(index: number): SegObject {
  return {
    key: nextKey++, id: null, label: defaultLabel(index), color: OBJECT_COLORS[index % OBJECT_COLORS.length],
    mask: null, prompt: { points: [], box: null }, dirty: false, exportUrls: null, author: null,
    modelVersion: null, updatedAt: null,
  };
}

/** A saved mask from the API as an object of the page. */
export function objectFromApi(m: MaskObject): SegObject {
  const points = (m.prompts.points ?? []).map((p) => ({ x: p[0], y: p[1], label: p[2] === 0 ? 0 : 1 }) as const);
  const box = m.prompts.box && m.prompts.box.length === 4 ? (m.prompts.box as [number, number, number, number]) : null;
  return {
    key: nextKey++, id: m.id, label: m.label, color: m.color, mask: rleDecode(m.rle as Rle),
    prompt: { points, box }, dirty: false, exportUrls: m.export_urls as Record<string, string>, author: m.author,
    modelVersion: m.model_version, updatedAt: m.updated_at,
  };
}
