// The state of every object verify hashed, kept compact: a cache of 100,000 objects held 100,000
// state objects with a stat object each (28 MB of heap, most of verify's peak memory). Here an
// object is a slot: its stat numbers in one Float64Array, its kind in one byte; only a corrupt
// object's reason is kept as an object. States are handed out as fresh objects, read and dropped.
import type { ObjectStat, ObjectState } from './objects.ts';

const MISSING = 0;
const OK = 1;
const CORRUPT = 2;
/** Set on the kind byte when the stat cache may take the object's stat (see ObjectStates.hash). */
const REMEMBER = 4;
/** size, ino, dev, mtimeMs, ctimeMs */
const NUMBERS = 5;

export class StateTable {
  private readonly slots = new Map<string, number>();
  private kinds = new Uint8Array(1024);
  private numbers = new Float64Array(1024 * NUMBERS);
  private readonly corrupt = new Map<number, { reason: string; actual?: string }>();

  get(digest: string): ObjectState | undefined {
    const slot = this.slots.get(digest);
    return slot === undefined ? undefined : this.at(slot);
  }

  set(digest: string, state: ObjectState): void {
    let slot = this.slots.get(digest);
    if (slot === undefined) {
      slot = this.slots.size;
      this.slots.set(digest, slot);
      this.grow(slot + 1);
    }
    if (state.state === 'missing') {
      this.kinds[slot] = MISSING;
      return;
    }
    this.kinds[slot] = (state.state === 'ok' ? OK : CORRUPT) | (state.remember ? REMEMBER : 0);
    const { stat } = state;
    const base = slot * NUMBERS;
    this.numbers[base] = stat.size;
    this.numbers[base + 1] = stat.ino;
    this.numbers[base + 2] = stat.dev;
    this.numbers[base + 3] = stat.mtimeMs;
    this.numbers[base + 4] = stat.ctimeMs;
    if (state.state === 'corrupt') this.corrupt.set(slot, { reason: state.reason, actual: state.actual });
    else this.corrupt.delete(slot);
  }

  /**
   * An object's state without making one: its kind, with its stat copied into `into` (a record
   * reused by the caller); undefined when it has none. NOTE: verify asks this for each file of
   * every record and tree, and the objects each `get` makes were a tenth of its garbage.
   */
  peek(digest: string, into: ObjectStat): 'ok' | 'corrupt' | 'missing' | undefined {
    const slot = this.slots.get(digest);
    return slot === undefined ? undefined : this.read(slot, into);
  }

  /**
   * Calls `visit` for each state from the `from`th on (in the order they were first set) that the
   * stat cache may take, with its stat in one reused record and what its content hashes to.
   */
  forEachRemembered(from: number, visit: (digest: string, stat: ObjectStat, actual: string) => void): void {
    const stat: ObjectStat = { size: 0, ino: 0, dev: 0, mtimeMs: 0, ctimeMs: 0 };
    let index = 0;
    for (const [digest, slot] of this.slots) {
      if (index++ < from || (this.kinds[slot]! & REMEMBER) === 0) continue;
      const kind = this.read(slot, stat);
      const actual = kind === 'ok' ? digest : this.corrupt.get(slot)?.actual;
      if (kind !== 'missing' && actual !== undefined) visit(digest, stat, actual);
    }
  }

  private read(slot: number, into: ObjectStat): 'ok' | 'corrupt' | 'missing' {
    const kind = this.kinds[slot]! & 3;
    if (kind === MISSING) return 'missing';
    const n = this.numbers;
    const base = slot * NUMBERS;
    into.size = n[base]!;
    into.ino = n[base + 1]!;
    into.dev = n[base + 2]!;
    into.mtimeMs = n[base + 3]!;
    into.ctimeMs = n[base + 4]!;
    return kind === OK ? 'ok' : 'corrupt';
  }

  /** How many objects have a state. */
  get size(): number {
    return this.slots.size;
  }

  private at(slot: number): ObjectState {
    const kind = this.kinds[slot]!;
    if ((kind & 3) === MISSING) return { state: 'missing' };
    const n = this.numbers;
    const base = slot * NUMBERS;
    const stat: ObjectStat = {
      size: n[base]!,
      ino: n[base + 1]!,
      dev: n[base + 2]!,
      mtimeMs: n[base + 3]!,
      ctimeMs: n[base + 4]!,
    };
    const remember = (kind & REMEMBER) !== 0;
    if ((kind & 3) === OK) return { state: 'ok', stat, remember };
    const { reason, actual } = this.corrupt.get(slot)!;
    return actual === undefined
      ? { state: 'corrupt', stat, reason, remember }
      : { state: 'corrupt', stat, reason, actual, remember };
  }

  private grow(slots: number): void {
    if (slots <= this.kinds.length) return;
    const kinds = new Uint8Array(this.kinds.length * 2);
    kinds.set(this.kinds);
    this.kinds = kinds;
    const numbers = new Float64Array(kinds.length * NUMBERS);
    numbers.set(this.numbers);
    this.numbers = numbers;
  }
}
