// A sweep in CI logs and pipes: the plain reporter's lines, each prefixed with its variant's name.
import type { RunEvent } from '../run/events.ts';
import { PlainReporter } from './plain.ts';
import type { SweepReporter } from './sweep-reporter.ts';

export class PlainSweepReporter implements SweepReporter {
  private readonly reporters = new Map<string, PlainReporter>();

  constructor(private readonly write: (line: string) => void) {}

  start(variants: readonly { name: string; stages: readonly string[] }[]): void {
    const width = Math.max(0, ...variants.map((v) => v.name.length));
    const stages = [...new Set(variants.flatMap((v) => v.stages))];
    for (const v of variants) {
      const reporter = new PlainReporter((line) =>
        this.write(`  ${v.name.padEnd(width)}  ${line.trimStart()}`),
      );
      reporter.start(stages);
      this.reporters.set(v.name, reporter);
    }
  }

  event(variant: string, event: RunEvent): void {
    this.reporters.get(variant)?.event(event);
  }

  async finish(): Promise<void> {}
}
