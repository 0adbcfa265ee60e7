// What a run prints: its header line, a line (or a listr2 row) per stage, the summary, each
// failure's report and the --json payload; and its exit code. One owner, so a run, a sweep and a
// journal's replay print alike.
import { relative } from 'node:path';
import { EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_STAGE_FAILED, PipeError } from '../../errors.ts';
import { formatError } from '../../report/format-error.ts';
import { batchLines } from '../../report/line-batch.ts';
import { PlainReporter } from '../../report/plain.ts';
import type { Reporter } from '../../report/reporter.ts';
import type { StageOutcome } from '../../run/events.ts';
import { formatSeconds } from '../../util/format.ts';
import type { CliIo } from '../io.ts';
import type { RunRequest } from './run-request.ts';

/** Where the run's own lines go: stdout, or stderr when stdout carries the --json payload. */
export function sayOf(io: CliIo, request: Pick<RunRequest, 'json'>): (text: string) => void {
  return request.json ? io.stderr : io.stdout;
}

/** What a run's first line names. */
export interface RunHead {
  experiment: string;
  specFile: string;
  cacheRoot: string;
}

export function sayHeader(
  io: CliIo,
  request: Pick<RunRequest, 'json'>,
  head: RunHead,
  selected: readonly string[],
): void {
  sayOf(
    io,
    request,
  )(
    `gpt2o-pipe run: experiment "${head.experiment}" (${relative(io.cwd, head.specFile)}), ${selected.length} stage${selected.length === 1 ? '' : 's'}, cache ${relative(io.cwd, head.cacheRoot) || '.'}\n`,
  );
}

/** The stage lines' reporter (listr2 on a terminal, plain lines otherwise), started on `selected`. */
export async function openReporter(
  io: CliIo,
  request: Pick<RunRequest, 'json'>,
  selected: readonly string[],
) {
  const lines = batchLines(sayOf(io, request));
  const reporter: Reporter =
    io.isTTY && !request.json
      ? new (await import('../../report/listr.ts')).ListrReporter()
      : new PlainReporter((line) => lines.write(`${line}\n`));
  reporter.start(selected);
  return { reporter, lines };
}

/** Prints each failure's report (and the --json payload); returns the run's exit code. */
export function reportOutcomes(
  io: CliIo,
  request: Pick<RunRequest, 'json' | 'reportInterrupted'>,
  spec: Pick<RunHead, 'experiment' | 'specFile'>,
  list: StageOutcome[],
): number {
  const failed = list.filter((o) => o.status === 'failed');
  for (const outcome of failed) {
    if (request.reportInterrupted === false && isInterrupted(outcome)) continue;
    io.stderr(`\n${failureReport(outcome, list, io, spec.specFile)}\n`);
  }
  if (request.json) {
    const payload = {
      experiment: spec.experiment,
      ok: failed.length === 0,
      stages: list.map(stageJson),
    };
    io.stdout(`${JSON.stringify(payload)}\n`);
  }
  return runExitCode(list);
}

/** A stage's outcome in `run --json`: name, status, key, seconds, and reason and error when set. */
export function stageJson(o: StageOutcome) {
  return {
    name: o.name,
    status: o.status,
    key: o.key ?? null,
    seconds: Math.round(o.seconds * 1000) / 1000,
    ...(o.reason ? { reason: o.reason } : {}),
    ...(o.error ? { error: o.error.message } : {}),
  };
}

/** The exit code of a run's outcomes (errors.ts: 0, 1 a stage failed, 70 a bug, 130 stopped). */
export function runExitCode(list: readonly StageOutcome[]): number {
  const failed = list.filter((o) => o.status === 'failed');
  if (failed.some(isInterrupted)) return EXIT_INTERRUPTED;
  // A stage that failed on a bug (ours or a built-in stage's) exits like any other internal error.
  if (failed.some((o) => !(o.error instanceof PipeError))) return EXIT_INTERNAL;
  return failed.length > 0 ? EXIT_STAGE_FAILED : EXIT_OK;
}

/** A stage stopped by Ctrl-C (or a closed stdout). */
export function isInterrupted(outcome: StageOutcome): boolean {
  return (outcome.error as PipeError | undefined)?.code === 'E_INTERRUPTED';
}

/** The run's last line: how many stages ended how, and how long it took since `started`. */
export function saySummary(
  io: CliIo,
  request: Pick<RunRequest, 'json'>,
  list: StageOutcome[],
  started: number,
): void {
  sayOf(io, request)(`${summaryLine(list)} in ${formatSeconds((Date.now() - started) / 1000)}\n`);
}

export function summaryLine(list: StageOutcome[]): string {
  const count = (status: StageOutcome['status']) => list.filter((o) => o.status === status).length;
  const parts = (['ran', 'cached', 'would-run', 'failed', 'skipped'] as const)
    .filter((s) => count(s) > 0 || s === 'ran' || s === 'cached')
    .map((s) => `${count(s)} ${s}`);
  return `${list.length} stage${list.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

export function failureReport(
  outcome: StageOutcome,
  list: StageOutcome[],
  io: CliIo,
  specFile: string,
  /** The command that resumes; default `gpt2o-pipe run <specFile>`. */
  resume = `gpt2o-pipe run ${relative(io.cwd, specFile)}`,
): string {
  const lines = [formatError(outcome.error, io.cwd)];
  if (!(outcome.error instanceof PipeError)) lines.push(`  (in stage "${outcome.name}")`);
  if (outcome.logTail) {
    lines.push(`  last lines of the log (${relative(io.cwd, outcome.logPath ?? '')}):`);
    lines.push(
      ...outcome.logTail
        .split('\n')
        .slice(-15)
        .map((l) => `    | ${l}`),
    );
  }
  const skipped = list
    .filter((o) => o.status === 'skipped' && o.reason?.includes(`"${outcome.name}"`))
    .map((o) => o.name);
  if (skipped.length > 0) lines.push(`  skipped because of it: ${skipped.join(', ')}`);
  lines.push(`  after fixing it, resume with: ${resume}`);
  return lines.join('\n');
}
