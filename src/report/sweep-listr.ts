// A sweep on a terminal: one listr2 task per variant, whatever the number of stages, so 16 variants
// of 8 stages stay 16 lines. A task's title says how far its variant is and what runs now; its
// output line shows the latest progress or log line of that variant. Loaded only on a TTY.
import { type DefaultRenderer, Listr, type ListrTaskWrapper, type SimpleRenderer } from 'listr2';
import type { RunEvent, StageOutcome } from '../run/events.ts';
import { formatProgress } from './progress-text.ts';
import type { SweepReporter } from './sweep-reporter.ts';
import { variantSummary } from './sweep-text.ts';

type Task = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;

interface VariantSlot {
  name: string;
  total: number;
  ended: StageOutcome[];
  running: Set<string>;
  task?: Task;
  output?: string;
  finished: () => void;
  done: Promise<void>;
}

export class ListrSweepReporter implements SweepReporter {
  private readonly slots = new Map<string, VariantSlot>();
  private running: Promise<unknown> = Promise.resolve();
  private width = 0;

  start(variants: readonly { name: string; stages: readonly string[] }[]): void {
    this.width = Math.max(0, ...variants.map((v) => v.name.length));
    for (const v of variants) {
      let finished!: () => void;
      const done = new Promise<void>((resolve) => {
        finished = resolve;
      });
      this.slots.set(v.name, {
        name: v.name,
        total: v.stages.length,
        ended: [],
        running: new Set(),
        finished,
        done,
      });
    }
    const list = new Listr(
      variants.map((v) => ({
        title: this.title(this.slots.get(v.name)!),
        rendererOptions: { outputBar: 1 },
        task: async (_: unknown, task: Task) => {
          const slot = this.slots.get(v.name)!;
          slot.task = task;
          task.title = this.title(slot);
          if (slot.output) task.output = slot.output;
          await slot.done;
          task.title = `${slot.name.padEnd(this.width)}  ${variantSummary(slot.ended)}`;
          if (slot.ended.some((o) => o.status === 'failed')) throw new Error(task.title);
        },
      })),
      { concurrent: true, exitOnError: false, rendererOptions: { collapseErrors: true } },
    );
    this.running = list.run().catch(() => undefined);
  }

  event(variant: string, event: RunEvent): void {
    const slot = this.slots.get(variant);
    if (!slot) return;
    switch (event.type) {
      case 'stage-start':
        slot.running.add(event.stage);
        break;
      case 'stage-wait':
        this.output(slot, `${event.stage}: waiting for ${event.holder}`);
        break;
      case 'stage-log':
        this.output(slot, `${event.stage}: ${event.line}`);
        break;
      case 'stage-warning':
        this.output(slot, `${event.stage}: warning: ${event.message}`);
        break;
      case 'stage-progress':
        this.output(slot, `${event.stage}: ${formatProgress(event.progress)}`);
        break;
      case 'stage-end':
        slot.running.delete(event.stage);
        slot.ended.push(event.outcome);
        if (slot.ended.length >= slot.total) slot.finished();
        break;
    }
    if (slot.task) slot.task.title = this.title(slot);
  }

  async finish(): Promise<void> {
    for (const slot of this.slots.values()) slot.finished();
    await this.running;
  }

  private title(slot: VariantSlot): string {
    const now = slot.running.size > 0 ? `  ${[...slot.running].join(', ')} running` : '';
    return `${slot.name.padEnd(this.width)}  ${slot.ended.length}/${slot.total} stages${now}`;
  }

  private output(slot: VariantSlot, line: string): void {
    slot.output = line;
    if (slot.task) slot.task.output = line;
  }
}
