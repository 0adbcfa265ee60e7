// A full garbage collection between verify's phases. Verify's peak memory was garbage, not live
// data: a phase (the stat cache of 100,000 objects read, compared and let go; a tree's manifest
// parsed) leaves tens of MB that V8 collects only once the heap reaches a limit it set from the
// previous full collection, so the next phase grew the heap on top of them (205 MB peak RSS on a
// tree of 100,000 files; about 170 MB with a collection after the stat cache). V8 offers the call
// only behind a flag; the flag is set when verify first needs it (never at start-up, which would
// cost every command its code cache, see bin/gpt2o-pipe.js), and a new context hands out `gc`.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/** Collects garbage now (all generations); does nothing where the runtime does not allow it. */
export function collectGarbage(): void {
  try {
    if (!gc) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
    gc();
  } catch {
    // no full collection: the peak is higher, nothing else changes
  }
}
