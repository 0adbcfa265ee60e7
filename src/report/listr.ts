// listr2 progress for terminals: one task per stage, concurrent, fed by runner events. Loaded only
// on a TTY (the import is lazy), so CI logs and `--json` never pay for it.
import { type DefaultRenderer, Listr, type ListrTaskWrapper, type SimpleRenderer } from 'listr2';
import type { RunEvent, StageOutcome } from '../run/events.ts';
import { describeOutcome } from './outcome-text.ts';
import { formatProgress } from './progress-text.ts';
import type { Reporter } from './reporter.ts';

type Task = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;

interface Slot {
  task?: Task;
  title?: string;
  output?: string;
  done: (outcome: StageOutcome) => void;
  outcome: Promise<StageOutcome>;
}

export class ListrReporter implements Reporter {
  private readonly slots = new Map<string, Slot>();
  private running: Promise<unknown> = Promise.resolve();

  start(stages: readonly string[]): void {
    for (const name of stages) {
      let done!: (outcome: StageOutcome) => void;
      const outcome = new Promise<StageOutcome>((resolve) => {
        done = resolve;
      });
      this.slots.set(name, { done, outcome });
    }
    const list = new Listr(
      stages.map((name) => ({
        title: name,
        rendererOptions: { outputBar: 1 },
        task: async (_: unknown, task: Task) => {
          const slot = this.slots.get(name)!;
          slot.task = task;
          if (slot.title) task.title = slot.title;
          if (slot.output) task.output = slot.output;
          const outcome = await slot.outcome;
          task.title = describeOutcome(outcome, 0, false);
          if (outcome.status === 'failed') throw new Error(outcome.error?.message ?? 'failed');
          if (outcome.status === 'skipped' || outcome.status === 'would-run') task.skip(task.title);
        },
      })),
      { concurrent: true, exitOnError: false, rendererOptions: { collapseErrors: true } },
    );
    this.running = list.run().catch(() => undefined);
  }

  event(event: RunEvent): void {
    const slot = this.slots.get(event.stage);
    if (!slot) return;
    switch (event.type) {
      case 'stage-start':
        this.set(slot, { title: `${event.stage}  running` });
        break;
      case 'stage-wait':
        this.set(slot, { output: `waiting: ${event.holder} is computing the same stage` });
        break;
      case 'stage-log':
        this.set(slot, { output: event.line });
        break;
      case 'stage-warning':
        this.set(slot, { output: `warning: ${event.message}` });
        break;
      case 'stage-progress':
        this.set(slot, { output: formatProgress(event.progress) });
        break;
      case 'stage-end':
        slot.done(event.outcome);
        break;
    }
  }

  async finish(): Promise<void> {
    await this.running;
  }

  private set(slot: Slot, change: { title?: string; output?: string }): void {
    if (change.title !== undefined) slot.title = change.title;
    if (change.output !== undefined) slot.output = change.output;
    if (!slot.task) return;
    if (change.title !== undefined) slot.task.title = change.title;
    if (change.output !== undefined) slot.task.output = change.output;
  }
}
