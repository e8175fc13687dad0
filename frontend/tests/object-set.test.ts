import { describe, expect, it } from 'vitest';
import { ObjectSet } from '../src/object-set';
import { newObject, type SegObject } from '../src/objects';

function saved(label: string, mask: number[] | null = [1, 0]): SegObject {
  const o = newObject(0);
  o.id = 10;
  o.label = label;
  o.mask = mask ? Uint8Array.from(mask) : null;
  return o;
}

describe('object set', () => {
  it('puts saved objects before objects started earlier', () => {
    const set = new ObjectSet();
    const started = set.start();
    set.addSaved([saved('liver')]);
    expect(set.all.map((o) => o.label)).toEqual(['liver', started.label]);
  });

  it('labels new objects by their position', () => {
    const set = new ObjectSet();
    set.start();
    expect(set.start().label).toBe('lesion B');
  });

  it('does not make a started object active', () => {
    const set = new ObjectSet();
    set.start();
    expect(set.active).toBeNull();
  });

  it('drops the active object when it is empty and unsaved', () => {
    const set = new ObjectSet();
    set.active = set.start();
    set.dropEmptyActive();
    expect(set.all).toEqual([]);
  });

  it('keeps an active object that was saved', () => {
    const set = new ObjectSet();
    set.addSaved([saved('liver', null)]);
    set.active = set.all[0];
    set.dropEmptyActive();
    expect(set.all).toHaveLength(1);
  });

  it('marks an edited object dirty only once it has a mask or was saved', () => {
    const set = new ObjectSet();
    set.active = set.start();
    set.editActive({ label: 'kidney' });
    const empty = set.active.dirty;
    set.active.mask = Uint8Array.from([1]);
    set.editActive({ color: '#000000' });
    expect([empty, set.active]).toMatchObject([false, { label: 'kidney', color: '#000000', dirty: true }]);
  });

  it('edits nothing without an active object', () => {
    expect(new ObjectSet().editActive({ label: 'x' })).toBe(false);
  });

  it('tells whether the removed object was the active one', () => {
    const set = new ObjectSet();
    const a = set.start();
    const b = set.start();
    set.active = b;
    expect([set.remove(a), set.remove(b), set.all]).toEqual([false, true, []]);
  });

  it('draws only the other objects that have masks underneath', () => {
    const set = new ObjectSet();
    set.addSaved([saved('a'), saved('b', null), saved('c')]);
    set.active = set.all[2];
    expect(set.others().map((o) => o.label)).toEqual(['a']);
  });

  it('exports the objects with masks, active first, unnamed as "object"', () => {
    const set = new ObjectSet();
    set.addSaved([saved('a'), saved('  ')]);
    set.active = set.all[1];
    expect(set.exported().map((o) => [o.label, o.active])).toEqual([['object', true], ['a', false]]);
  });

  it('forgets everything on clear', () => {
    const set = new ObjectSet();
    set.active = set.start();
    set.clear();
    expect([set.all, set.active]).toEqual([[], null]);
  });
});
