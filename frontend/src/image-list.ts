/**
 * The user's images as `li.image-item[data-image-id][data-status]`, newest first.
 * Clicking (or Enter/Space on) an item asks the app to open it.
 */
import type { ImageObject } from './api-types';

const STATUS_TEXT: Record<ImageObject['status'], string> = {
  queued: 'queued',
  embedding: 'embedding…',
  ready: 'ready',
  failed: 'failed',
};

export function statusLabel(image: Pick<ImageObject, 'status' | 'queue_position'>): string {
  if (image.status === 'queued' && image.queue_position != null) {
    return `queued (#${image.queue_position})`;
  }
  return STATUS_TEXT[image.status] ?? image.status;
}

const STATUS_RANK: Record<ImageObject['status'], number> = { queued: 0, embedding: 1, ready: 2, failed: 2 };

/** Of two snapshots of the same image, the one further along queued → embedding → ready/failed. */
export function latestOf(known: ImageObject | undefined, incoming: ImageObject): ImageObject {
  if (!known) return incoming;
  return (STATUS_RANK[known.status] ?? 0) > (STATUS_RANK[incoming.status] ?? 0) ? known : incoming;
}

export class ImageList {
  private readonly items = new Map<number, { li: HTMLLIElement; image: ImageObject }>();
  private selected: number | null = null;
  private readonly list: HTMLUListElement;
  private readonly empty: HTMLElement | null;
  private readonly onOpen: (image: ImageObject) => void;

  constructor(list: HTMLUListElement, onOpen: (image: ImageObject) => void, empty: HTMLElement | null = null) {
    this.list = list;
    this.onOpen = onOpen;
    this.empty = empty;
    list.addEventListener('click', (ev) => this.activate(ev.target));
    list.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        this.activate(ev.target);
      }
    });
  }

  private activate(target: EventTarget | null): void {
    const li = (target as Element | null)?.closest?.('li.image-item');
    if (!li) return;
    const entry = this.items.get(Number((li as HTMLElement).dataset.imageId));
    if (entry) this.onOpen(entry.image);
  }

  get(id: number): ImageObject | undefined {
    return this.items.get(id)?.image;
  }

  /** Replaces the whole list (as returned by GET /api/images/, newest first). */
  setAll(images: readonly ImageObject[]): void {
    this.items.clear();
    this.list.replaceChildren();
    for (const image of images) this.upsert(image, 'end');
    this.updateEmpty();
  }

  /** Adds a new image (at the top by default) or updates an existing one in place. */
  upsert(image: ImageObject, where: 'start' | 'end' = 'start'): void {
    const existing = this.items.get(image.id);
    if (existing) {
      existing.image = image;
      this.render(existing.li, image);
      return;
    }
    const li = document.createElement('li');
    li.className = 'image-item';
    li.tabIndex = 0;
    li.setAttribute('role', 'button');
    this.render(li, image);
    this.items.set(image.id, { li, image });
    if (where === 'start') this.list.prepend(li);
    else this.list.append(li);
    this.updateEmpty();
  }

  select(id: number | null): void {
    this.selected = id;
    for (const [itemId, { li }] of this.items) {
      const on = itemId === id;
      li.classList.toggle('selected', on);
      li.setAttribute('aria-current', on ? 'true' : 'false');
    }
  }

  private render(li: HTMLLIElement, image: ImageObject): void {
    li.dataset.imageId = String(image.id);
    li.dataset.status = image.status;
    li.dataset.maskCount = String(image.mask_count ?? 0);
    li.classList.toggle('selected', image.id === this.selected);
    li.title = image.status === 'failed' && image.error ? image.error : image.filename;

    const name = document.createElement('span');
    name.className = 'image-name';
    name.textContent = image.filename;
    const size = document.createElement('span');
    size.className = 'image-size';
    const count = image.mask_count ?? 0;
    size.textContent = `${image.width}×${image.height}${count ? ` · ${count} object${count === 1 ? '' : 's'} saved` : ''}`;
    const status = document.createElement('span');
    status.className = `image-status status-${image.status}`;
    status.textContent = statusLabel(image);
    li.replaceChildren(name, size, status);
  }

  private updateEmpty(): void {
    if (this.empty) this.empty.hidden = this.items.size > 0;
  }
}
