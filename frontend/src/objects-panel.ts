/**
 * The objects panel: one `li.object-item[data-object-key]` per object with its
 * colour, label, save state and export links; the label and colour inputs edit
 * the active object.
 */
import type { SegObject } from './objects';

export interface ObjectsPanelElements {
  list: HTMLUListElement;
  label: HTMLInputElement;
  color: HTMLInputElement;
  exports: HTMLElement;
}

export interface ObjectsPanelHandlers {
  select(key: number): void;
  remove(key: number): void;
  rename(label: string): void;
  recolor(color: string): void;
}

const EXPORT_NAMES: Record<string, string> = { png: 'PNG', nifti: 'NIfTI', coco: 'COCO RLE', dicom_seg: 'DICOM-SEG' };

export class ObjectsPanel {
  constructor(private readonly el: ObjectsPanelElements, on: ObjectsPanelHandlers) {
    el.list.addEventListener('click', (ev) => {
      const target = ev.target as HTMLElement;
      const li = target.closest<HTMLElement>('li.object-item');
      if (!li) return;
      const key = Number(li.dataset.objectKey);
      if (target.closest('button.object-delete')) on.remove(key);
      else if (!target.closest('a')) on.select(key);
    });
    el.label.addEventListener('input', () => on.rename(el.label.value));
    el.color.addEventListener('input', () => on.recolor(el.color.value));
  }

  render(objects: readonly SegObject[], activeKey: number | null): void {
    this.el.list.replaceChildren(
      ...objects.map((o) => {
        const li = document.createElement('li');
        li.className = 'object-item';
        li.dataset.objectKey = String(o.key);
        if (o.id != null) li.dataset.maskId = String(o.id);
        li.dataset.saved = String(o.id != null && !o.dirty);
        li.classList.toggle('active', o.key === activeKey);
        const swatch = document.createElement('span');
        swatch.className = 'swatch';
        swatch.style.background = o.color;
        const name = document.createElement('span');
        name.className = 'object-label';
        name.textContent = o.label;
        const state = document.createElement('span');
        state.className = 'object-state';
        state.textContent = o.id == null ? (o.mask ? 'not saved' : 'empty') : o.dirty ? 'unsaved changes' : 'saved';
        if (o.author) state.title = `saved by ${o.author}${o.updatedAt ? ` at ${o.updatedAt}` : ''}, model v${o.modelVersion}`;
        const del = document.createElement('button');
        del.type = 'button';
        del.className = 'object-delete';
        del.title = `Delete ${o.label}`;
        del.textContent = '×';
        li.append(swatch, name, state, del);
        return li;
      }),
    );
    const active = objects.find((o) => o.key === activeKey) ?? null;
    if (document.activeElement !== this.el.label) this.el.label.value = active?.label ?? '';
    this.el.color.value = active?.color ?? '#1e90ff';
    this.el.exports.replaceChildren();
    if (active?.exportUrls && !active.dirty) {
      this.el.exports.append('Export: ');
      for (const [fmt, url] of Object.entries(active.exportUrls)) {
        const a = document.createElement('a');
        a.href = url;
        a.className = `export-link export-${fmt}`;
        a.dataset.format = fmt;
        a.textContent = EXPORT_NAMES[fmt] ?? fmt;
        a.setAttribute('download', '');
        this.el.exports.append(a, ' ');
      }
    }
  }
}
