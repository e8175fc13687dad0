/**
 * Undo/redo over immutable snapshots: push() records a new present and forgets
 * the redo branch; undo()/redo() move through the snapshots.
 */
export class History<T> {
  private past: T[] = [];
  private future: T[] = [];
  present: T;

  constructor(initial: T, private readonly limit = 200) {
    this.present = initial;
  }

  push(next: T): void {
    this.past.push(this.present);
    if (this.past.length > this.limit) this.past.shift();
    this.present = next;
    this.future = [];
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }

  undo(): T | null {
    const previous = this.past.pop();
    if (previous === undefined) return null;
    this.future.push(this.present);
    this.present = previous;
    return previous;
  }

  redo(): T | null {
    const next = this.future.pop();
    if (next === undefined) return null;
    this.past.push(this.present);
    this.present = next;
    return next;
  }

  reset(initial: T): void {
    this.past = [];
    this.future = [];
    this.present = initial;
  }
}
