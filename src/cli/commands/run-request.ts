// What one run is asked to do (for `run`, a sweep, `watch` and a journal's replay alike), and the
// two things every one of them does with it first: register in the cache, and hand the scheduler
// its part.
import { enterRun } from '../../cache/maintenance.ts';
import type { CacheStore } from '../../cache/store.ts';
import type { ExecutorName } from '../../pipeline/types.ts';
import type { StageResources } from '../../stage-api/index.ts';
import type { CliIo } from '../io.ts';
import type { JournalTarget } from './run-noop.ts';

/** One run of an opened workspace, as `run` does it; `watch` calls it once per cycle. */
export interface RunRequest {
  /** Stages to run with what they need; empty: every stage. */
  targets: readonly string[];
  force: readonly string[];
  jobs: number;
  /** What a built-in stage may use of the machine (GPT2O_WORKERS, GPT2O_THREADS, GPT2O_MEMORY_LIMIT). */
  resources: StageResources;
  dryRun: boolean;
  keepGoing: boolean;
  json: boolean;
  /** Stops the run (Ctrl-C for `run`; Ctrl-C or a file change for `watch`). */
  signal: AbortSignal;
  /** Print the report of a stage stopped by the signal (default true; `watch` says why itself). */
  reportInterrupted?: boolean;
  /** `--executor`: overrides the spec's default executor. */
  executor?: ExecutorName;
  /** Inside a Slurm job: run everything locally and publish no refs or runs/ links (the head does). */
  stageExec?: boolean;
  /** Remember the run in this no-op journal when it is fully cached (run-noop.ts). */
  journal?: JournalTarget;
}

/**
 * Registers a run that writes to the cache (gc and verify --repair wait for it, and it waits for
 * them, saying so); returns the call that ends it. A dry run writes nothing and registers nothing.
 */
export async function markRun(
  io: CliIo,
  store: CacheStore,
  request: Pick<RunRequest, 'dryRun' | 'signal'>,
): Promise<() => void> {
  if (request.dryRun) return () => undefined;
  return enterRun(store, {
    signal: request.signal,
    onWait: (holder) =>
      io.stderr(
        `waiting: gc or verify --repair (${holder}) is working on the cache; this run starts when it is done\n`,
      ),
  });
}

/** What the scheduler takes from a request, for one experiment and for a sweep alike. */
export function schedulingOf(request: RunRequest) {
  return {
    jobs: request.jobs,
    resources: request.resources,
    force: new Set(request.force),
    dryRun: request.dryRun,
    keepGoing: request.keepGoing,
    signal: request.signal,
  };
}
