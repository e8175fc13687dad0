/**
 * The objects list of the open image: loads its saved objects, starts, selects, edits, saves
 * (mask-save.ts) and removes objects (a saved one is deleted on the server after a confirmation),
 * and keeps the objects panel (objects-panel.ts) in step. The data lives in object-set.ts; what activating an
 * object means for prompts and drawing is the viewer's, through the callbacks.
 */
import type { MaskObject, MaskWrite } from './api';
import type { ImageObject } from './api-types';
import { saveObject } from './mask-save';
import { ObjectSet } from './object-set';
import { objectFromApi, type SegObject } from './objects';
import { ObjectsPanel, type ObjectsPanelElements } from './objects-panel';

export interface ObjectsControllerDeps {
  listMasks(imageId: number): Promise<MaskObject[]>;
  deleteMask(maskId: number): Promise<void>;
  /** Creates the mask, or replaces mask `maskId` (api.ts). */
  saveMask(imageId: number, body: MaskWrite, maskId?: number | null): Promise<MaskObject>;
  /** Asks the user (window.confirm). */
  confirm(message: string): boolean;
  showError(message: string): void;
  /** An image's saved objects changed (the study list shows counts). */
  onMasksChanged?(imageId: number): void;
  /** The open image, or null. */
  image(): ImageObject | null;
  /** Privacy mode: the image lives in this browser only (nothing of it is saved). */
  isLocal(image: ImageObject): boolean;
  /** Image generation `gen` is still the open one. */
  isCurrent(gen: number): boolean;
  /** The open image is ready for segmentation. */
  ready(): boolean;
  /** `obj` became the active object (it is set already): its prompts and mask are the shown ones now. */
  activated(obj: SegObject): void;
  /** The saved objects of the open image arrived: `count` of them. */
  savedLoaded(count: number): void;
  /** A save request is about to be sent. */
  saving(): void;
  /** The server saved `obj` of `image` (reported before the panel is rendered again). */
  saved(obj: SegObject, saved: MaskObject, image: ImageObject): void;
  /** The panel was rendered (buttons depend on the active object). */
  rendered(): void;
  /** The objects' masks or colours changed: redraw them. */
  redraw(): void;
}

export class ObjectsController {
  readonly set = new ObjectSet();
  private readonly panel: ObjectsPanel;

  constructor(elements: ObjectsPanelElements, private readonly deps: ObjectsControllerDeps) {
    this.panel = new ObjectsPanel(elements, {
      select: (key) => this.select(key),
      remove: (key) => void this.remove(key),
      rename: (label) => this.edit({ label }),
      recolor: (color) => this.edit({ color }),
    });
  }

  get active(): SegObject | null {
    return this.set.active;
  }

  /** Forgets every object (another image opens). */
  clear(): void {
    this.set.clear();
  }

  /** Loads the saved objects of generation `gen`'s image; then there is an active object. */
  async load(gen: number, image: ImageObject): Promise<void> {
    let saved: MaskObject[] = [];
    try {
      if (!this.deps.isLocal(image)) saved = await this.deps.listMasks(image.id); // privacy mode: nothing saved
    } catch (err) {
      if (this.deps.isCurrent(gen)) this.deps.showError(`Cannot load the saved masks of ${image.filename}: ${(err as Error).message}`);
    }
    if (!this.deps.isCurrent(gen)) return;
    this.set.addSaved(saved.map(objectFromApi));
    if (!this.set.active) this.start();
    this.deps.savedLoaded(saved.length);
    this.render();
    this.deps.redraw();
  }

  /** Starts a new object, dropping the active one if it has nothing in it. */
  newObject(): void {
    if (!this.deps.ready()) return;
    this.set.dropEmptyActive();
    this.start();
  }

  /** Saves the active object (creates it, or replaces the saved version). */
  async save(gen: number): Promise<void> {
    const obj = this.set.active;
    const image = this.deps.image();
    if (!obj || !image || !this.deps.ready()) return;
    await saveObject(obj, image, {
      saveMask: (imageId, body, maskId) => this.deps.saveMask(imageId, body, maskId),
      isLocal: this.deps.isLocal(image),
      isCurrent: () => this.deps.isCurrent(gen),
      showError: (message) => this.deps.showError(message),
      started: () => this.deps.saving(),
      saved: (o, saved) => this.deps.saved(o, saved, image),
      finished: () => {
        this.render();
        this.deps.rendered();
      },
    });
  }

  render(): void {
    this.panel.render(this.set.all, this.set.active?.key ?? null);
    this.deps.rendered();
  }

  private start(): void {
    this.activate(this.set.start());
  }

  private activate(obj: SegObject): void {
    this.set.active = obj;
    this.deps.activated(obj);
    this.render();
    this.deps.redraw();
  }

  private select(key: number): void {
    const obj = this.set.find(key);
    if (obj && obj !== this.set.active) this.activate(obj);
  }

  private edit(change: { label?: string; color?: string }): void {
    if (!this.set.editActive(change)) return;
    this.render();
    this.deps.redraw();
  }

  private async remove(key: number): Promise<void> {
    const obj = this.set.find(key);
    if (!obj || !this.deps.image()) return;
    if (obj.id != null) {
      if (!this.deps.confirm(`Delete the saved mask "${obj.label}"?`)) return;
      try {
        await this.deps.deleteMask(obj.id);
      } catch (err) {
        this.deps.showError(`Cannot delete ${obj.label}: ${(err as Error).message}`);
        return;
      }
      this.deps.onMasksChanged?.(this.deps.image()!.id); // the image open once the delete is done
    }
    if (this.set.remove(obj)) {
      const next = this.set.last;
      if (next) this.activate(next);
      else this.start();
    } else {
      this.render();
      this.deps.redraw();
    }
  }
}
