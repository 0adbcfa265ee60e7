// A line per state change, for CI logs and pipes (no cursor movement, no colors unless asked).
import type { RunEvent } from '../run/events.ts';
import { describeOutcome } from './outcome-text.ts';
import { formatProgress } from './progress-text.ts';
import type { Reporter } from './reporter.ts';

export class PlainReporter implements Reporter {
  private width = 0;
  private lastProgress = new Map<string, number>();

  constructor(private readonly write: (line: string) => void) {}

  start(stages: readonly string[]): void {
    this.width = Math.max(0, ...stages.map((s) => s.length));
  }

  event(event: RunEvent): void {
    const name = event.stage.padEnd(this.width);
    switch (event.type) {
      case 'stage-start':
        this.write(
          event.key
            ? `  ▶ ${name}  running (key ${event.key.slice(0, 12)})`
            : `  ▶ ${name}  submitted (its job computes the key)`,
        );
        break;
      case 'stage-wait':
        this.write(`  … ${name}  waiting: ${event.holder} is computing the same stage`);
        break;
      case 'stage-warning':
        this.write(`  ! ${name}  warning: ${event.message}`);
        break;
      case 'stage-progress': {
        // At most one progress line per stage every 5 seconds in a log.
        const now = Date.now();
        if (now - (this.lastProgress.get(event.stage) ?? 0) < 5000) break;
        this.lastProgress.set(event.stage, now);
        this.write(`  · ${name}  ${formatProgress(event.progress)}`);
        break;
      }
      case 'stage-end':
        this.write(`  ${describeOutcome(event.outcome, this.width)}`);
        break;
      case 'stage-log':
        break;
    }
  }

  async finish(): Promise<void> {}
}
