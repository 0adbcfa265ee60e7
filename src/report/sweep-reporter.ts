// How a sweep's progress is shown: one reporter for all variants, told which variant each event is
// of. On a terminal, one line per variant (sweep-listr.ts); in logs and pipes, one line per event
// (sweep-plain.ts), each starting with its variant's name so `grep` finds a variant's story.
import type { RunEvent } from '../run/events.ts';

export interface SweepReporter {
  /** The variants and their stages, before any event. */
  start(variants: readonly { name: string; stages: readonly string[] }[]): void;
  event(variant: string, event: RunEvent): void;
  /** Waits until everything is printed. */
  finish(): Promise<void>;
}
