// The reporter interface: the CLI picks listr2 on a TTY and plain lines otherwise.
import type { RunEvent } from '../run/events.ts';

export interface Reporter {
  /** Called with the stages about to be considered, before any event. */
  start(stages: readonly string[]): void;
  event(event: RunEvent): void;
  /** Waits until everything is printed. */
  finish(): Promise<void>;
}
