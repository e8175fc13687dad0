/**
 * The objects of the open image and which one is active: the saved ones merged in, a new one
 * started, the active one edited, one removed. Plain data (objects.ts holds one object,
 * objects-panel.ts draws the list); the viewer activates objects and renders.
 */
import { newObject, type SegObject } from './objects';

/** One object of the browser-side downloads (privacy mode). */
export interface ExportedObject {
  label: string;
  mask: Uint8Array;
  active: boolean;
}

export class ObjectSet {
  private objects: SegObject[] = [];
  /** The object the prompts and masks go to. */
  active: SegObject | null = null;

  get all(): readonly SegObject[] {
    return this.objects;
  }

  /** Forgets every object (another image). */
  clear(): void {
    this.objects = [];
    this.active = null;
  }

  /** Adds the image's saved objects; objects started before they arrived stay, after them. */
  addSaved(saved: readonly SegObject[]): void {
    this.objects = [...saved, ...this.objects];
  }

  /** Appends a new empty object with the next default label and colour (not yet active). */
  start(): SegObject {
    const obj = newObject(this.objects.length);
    this.objects.push(obj);
    return obj;
  }

  find(key: number): SegObject | undefined {
    return this.objects.find((o) => o.key === key);
  }

  /** The last object in the list, or undefined when there is none. */
  get last(): SegObject | undefined {
    return this.objects[this.objects.length - 1];
  }

  /** Drops the active object when it has nothing in it (no mask, never saved). */
  dropEmptyActive(): void {
    const active = this.active;
    if (active && !active.mask && active.id == null) this.objects = this.objects.filter((o) => o !== active);
  }

  /** Renames or recolours the active object; false without one. It is dirty once it has a mask or was saved. */
  editActive(change: { label?: string; color?: string }): boolean {
    const obj = this.active;
    if (!obj) return false;
    if (change.label !== undefined) obj.label = change.label;
    if (change.color !== undefined) obj.color = change.color;
    obj.dirty = obj.id != null || obj.mask != null;
    return true;
  }

  /** Removes `obj` from the list; true when it was the active one (the caller activates another). */
  remove(obj: SegObject): boolean {
    this.objects = this.objects.filter((o) => o !== obj);
    return this.active === obj;
  }

  /** The objects with masks other than the active one (drawn underneath it). */
  others(): SegObject[] {
    return this.objects.filter((o) => o !== this.active && o.mask);
  }

  /** The objects with masks, active first, for the browser-side downloads. */
  exported(): ExportedObject[] {
    const withMasks = this.objects.filter((o) => o.mask);
    withMasks.sort((a, b) => (a === this.active ? -1 : b === this.active ? 1 : 0));
    return withMasks.map((o) => ({ label: o.label.trim() || 'object', mask: o.mask!, active: o === this.active }));
  }
}
