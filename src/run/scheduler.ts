// Runs the selected stages of a graph: each stage waits for its upstream, computes its key, then is
// served from the cache or executed (under a per-key lock) and committed. Independent stages run in
// parallel up to `jobs`. A failure stops new work (unless keepGoing) and skips the failed stage's
// dependents; finished stages stay cached.
import { existsSync } from 'node:fs';
import { mkdir, rm, statfs } from 'node:fs/promises';
import { hostname } from 'node:os';
import { storeOutputs } from '../cache/collect.ts';
import { depPath, describeStage, inputSlots, keyOf, slotTree } from '../cache/key.ts';
import { acquireLock, tryLock } from '../cache/lock.ts';
import type { KeyDescription, RunRecord } from '../cache/record.ts';
import { type CacheStore, describeDamage } from '../cache/store.ts';
import { PipeError } from '../errors.ts';
import type { Graph } from '../graph/build.ts';
import type { ExecutorName, ResolvedStage } from '../spec/types.ts';
import type { Emit, StageOutcome } from './events.ts';
import { runBuiltinStage } from './execute-builtin.ts';
import { runCmdStage, type SlotInput } from './execute-cmd.ts';
import { Semaphore } from './semaphore.ts';
import { runOnSlurm, type SlurmContext, slurmJobInfo } from './slurm.ts';
import { StageLog } from './stage-log.ts';
import { TOOL_VERSION } from './version.ts';

export interface RunOptions {
  graph: Graph;
  store: CacheStore;
  /** Stage names to consider, in topological order, closed under upstream. */
  selected: readonly string[];
  jobs: number;
  /** Stages to run even when cached. */
  force: ReadonlySet<string>;
  dryRun: boolean;
  keepGoing: boolean;
  signal: AbortSignal;
  emit: Emit;
  /** Executor of stages that name none (`run --executor`, else the spec's `executor:`); default local. */
  defaultExecutor?: ExecutorName;
  /** Run every stage here, whatever it names (inside a Slurm job: a job never submits another). */
  forceLocal?: boolean;
  /** What a Slurm job needs to recompute a stage; required when a stage runs on Slurm. */
  slurm?: SlurmContext;
}

/** Where a stage executes in this run. */
export function executorOf(
  stage: ResolvedStage,
  options: Pick<RunOptions, 'defaultExecutor' | 'forceLocal'>,
) {
  if (options.forceLocal) return 'local';
  return stage.executor ?? options.defaultExecutor ?? 'local';
}

export async function runStages(options: RunOptions): Promise<Map<string, StageOutcome>> {
  const outcomes = new Map<string, Promise<StageOutcome>>();
  const semaphore = new Semaphore(Math.max(1, options.jobs));
  const stopping = new AbortController();
  const stop = () => stopping.abort();
  // An already aborted signal never fires 'abort': stop at once (nothing starts).
  if (options.signal.aborted) stop();
  else options.signal.addEventListener('abort', stop, { once: true });

  for (const name of options.selected) {
    const ups = options.graph.upstream.get(name) ?? [];
    const outcome = Promise.all(ups.map((u) => outcomes.get(u)!)).then(async (upstream) => {
      const result = await settleStage(name, upstream, options, semaphore, stopping.signal);
      if (result.status === 'failed' && !options.keepGoing) stopping.abort();
      options.emit({ type: 'stage-end', stage: name, outcome: result });
      return result;
    });
    outcomes.set(name, outcome);
  }
  const settled = await Promise.all(outcomes.values());
  options.signal.removeEventListener('abort', stop);
  return new Map(settled.map((o) => [o.name, o]));
}

async function settleStage(
  name: string,
  upstream: StageOutcome[],
  options: RunOptions,
  semaphore: Semaphore,
  stopSignal: AbortSignal,
): Promise<StageOutcome> {
  const blocked = upstream.find((u) => u.status === 'failed' || u.status === 'skipped');
  if (blocked)
    return {
      name,
      status: 'skipped',
      seconds: 0,
      reason: `upstream "${blocked.name}" ${blocked.status === 'failed' ? 'failed' : 'was skipped'}`,
    };
  const pending = upstream.find((u) => u.status === 'would-run');
  if (pending)
    return { name, status: 'would-run', seconds: 0, reason: `upstream "${pending.name}" would run` };

  const stage = options.graph.stages.get(name)!;
  const trees = new Map(upstream.map((u) => [u.name, u.tree!]));
  let description: KeyDescription;
  let key: string;
  try {
    description = await describeStage(stage, options.graph, trees, options.store);
    key = await keyOf(description);
  } catch (error) {
    return { name, status: 'failed', seconds: 0, error: error as Error };
  }

  const forced = options.force.has(name);
  // A damaged cached result is a miss; warn once per stage (it is checked again under the lock).
  let warned = false;
  const warn = (message: string) => {
    if (warned) return;
    warned = true;
    options.emit({ type: 'stage-warning', stage: name, message });
  };
  if (!forced) {
    const hit = await cachedOutcome(options.store, name, key, warn);
    if (hit) {
      if (!options.dryRun) await dropLeftoverResume(options.store, key);
      return hit;
    }
  }
  if (options.dryRun)
    return { name, status: 'would-run', seconds: 0, key, reason: forced ? 'forced' : 'not in the cache' };
  if (stopSignal.aborted) return { name, status: 'skipped', seconds: 0, key, reason: 'the run was stopped' };

  await semaphore.acquire();
  try {
    if (stopSignal.aborted)
      return { name, status: 'skipped', seconds: 0, key, reason: 'the run was stopped' };
    if (executorOf(stage, options) === 'slurm') {
      // The job takes the stage's lock and commits; the head only submits, follows and serves.
      if (!options.slurm) throw new Error('a stage runs on Slurm but the run has no Slurm context');
      return await runOnSlurm({
        stage,
        key,
        forced,
        store: options.store,
        ctx: options.slurm,
        signal: options.signal,
        emit: options.emit,
      });
    }
    const lock = await acquireLock(options.store.layout.lock(key), {
      signal: options.signal,
      onWait: ({ owner }) =>
        options.emit({
          type: 'stage-wait',
          stage: name,
          key,
          holder: owner ? `pid ${owner.pid} on ${owner.host}` : 'another process',
        }),
    });
    try {
      // Another process may have computed this key while we waited for the lock.
      if (!forced) {
        const hit = await cachedOutcome(options.store, name, key, warn);
        if (hit) {
          await rm(options.store.layout.resume(key), { recursive: true, force: true });
          return hit;
        }
      }
      return await executeStage(stage, key, description, trees, options);
    } finally {
      await lock.release();
    }
  } catch (error) {
    return { name, status: 'failed', seconds: 0, key, error: error as Error };
  } finally {
    semaphore.release();
  }
}

/**
 * A kill between a stage's commit and the removal of its resume folder leaves checkpoints of a key
 * that is already in the cache (for a full-size train, gigabytes). The next run that is served
 * that key removes them, under the key's lock so that a `--force` rerun still using them keeps
 * them; a lock held by a live process means exactly that, and the folder waits for the next run.
 */
async function dropLeftoverResume(store: CacheStore, key: string): Promise<void> {
  const dir = store.layout.resume(key);
  if (!existsSync(dir)) return;
  const lock = await tryLock(store.layout.lock(key));
  if (!lock) return;
  try {
    await rm(dir, { recursive: true, force: true });
  } finally {
    await lock.release();
  }
}

async function cachedOutcome(
  store: CacheStore,
  name: string,
  key: string,
  warn: (message: string) => void,
): Promise<StageOutcome | undefined> {
  const record = await store.serve(key, (damage) => warn(`${describeDamage(damage)}; recomputing`));
  if (!record) return undefined;
  return { name, status: 'cached', key, seconds: 0, tree: record.output.tree };
}

async function executeStage(
  stage: ResolvedStage,
  key: string,
  description: KeyDescription,
  trees: ReadonlyMap<string, string>,
  options: RunOptions,
): Promise<StageOutcome> {
  const { store, graph, emit } = options;
  const started = Date.now();
  const work = await store.makeTmpDir(`run-${stage.name}`);
  let resumeDir: string | undefined;
  const log = new StageLog(store.layout.log(key), (line) =>
    emit({ type: 'stage-log', stage: stage.name, line }),
  );
  emit({ type: 'stage-start', stage: stage.name, key });
  const slots = inputSlots(stage, graph);
  try {
    const inputs = await materializeInputs(stage, slots, trees, store);
    const dirs = new Map(inputs.map((i) => [i.slot, i.dir]));
    let metrics: Record<string, unknown> = {};
    let warnings: string[] = [];
    let output: { tree: string; files: number; bytes: number };
    if (stage.kind === 'cmd') {
      ({ warnings } = await runCmdStage({
        stage,
        graph,
        store,
        scratch: work,
        inputs,
        log,
        signal: options.signal,
      }));
      output = await storeOutputs(
        store,
        work,
        stage.outs.map((o) => o.path),
        stage.name,
      );
    } else {
      const depPaths = new Map(stage.deps.map((d) => [d.path, depPath(graph, d.path)]));
      resumeDir = store.layout.resume(key);
      await mkdir(resumeDir, { recursive: true });
      ({ metrics } = await runBuiltinStage({
        stage,
        depPaths,
        outDir: work,
        resumeDir,
        inputDirs: dirs,
        log,
        signal: options.signal,
        emit,
      }));
      output = await storeOutputs(store, work, [''], stage.name);
    }
    for (const message of warnings) {
      log.line(`warning: ${message}`);
      emit({ type: 'stage-warning', stage: stage.name, message });
    }
    await log.close();
    const seconds = (Date.now() - started) / 1000;
    const record: RunRecord = {
      format: 1,
      key,
      description,
      stage: stage.name,
      experiment: graph.spec.experiment,
      params: stage.params,
      template: stage.template,
      inputStages: slots,
      output,
      metrics,
      warnings,
      startedAt: new Date(started).toISOString(),
      seconds,
      logTail: log.tail(),
      tools: {
        gpt2oPipe: TOOL_VERSION,
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
      },
      host: hostname(),
      ...slurmJobInfo(process.env),
    };
    await store.writeRecord(record);
    // The result is in the cache; what the stage kept to resume from is no longer needed.
    if (resumeDir) await rm(resumeDir, { recursive: true, force: true });
    return {
      name: stage.name,
      status: 'ran',
      key,
      seconds,
      tree: output.tree,
      logPath: log.path,
      logTail: record.logTail,
    };
  } catch (error) {
    // The stage's own error is the one to report; a log that could not be written is secondary.
    await log.close().catch(() => undefined);
    const failure =
      error instanceof PipeError
        ? await diskFullInstead(error, work, log.tail())
        : (cacheWriteError(stage.name, error) as Error);
    return {
      name: stage.name,
      status: 'failed',
      key,
      seconds: (Date.now() - started) / 1000,
      error: failure,
      logPath: log.path,
      logTail: log.tail(),
    };
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

const DISK_FULL_HINT =
  'free space (gpt2o-pipe gc drops unreferenced results) or point --cache at a larger disk';
/** Below this much free space, a command that failed with ENOSPC is taken to have filled the cache disk. */
const NEARLY_FULL_BYTES = 64 << 20;

/**
 * A command writes its outputs in a scratch folder inside the cache: when it failed with "No space
 * left on device" and that disk is (nearly) full now, say so with the disk-full code and hint.
 */
async function diskFullInstead(error: PipeError, scratch: string, logTail: string): Promise<PipeError> {
  if (error.code !== 'E_STAGE_COMMAND' || !/no space left on device|ENOSPC/i.test(logTail)) return error;
  const free = await statfs(scratch).then(
    (s) => s.bavail * s.bsize,
    () => undefined,
  );
  if (free === undefined || free >= NEARLY_FULL_BYTES) return error;
  return new PipeError(`${error.message}: the cache disk is full (${Math.round(free / 1024)} KiB free)`, {
    code: 'E_CACHE_DISK_FULL',
    stage: error.stage,
    loc: error.loc,
    hint: DISK_FULL_HINT,
    exitCode: error.exitCode,
    cause: error,
  });
}

/**
 * An error that is not a PipeError: a file-system error from writing the cache (a full disk, a
 * read-only or unwritable cache folder) becomes a PipeError naming it; anything else is a bug and
 * stays itself, so it is reported as an internal error with its stack.
 */
function cacheWriteError(stage: string, error: unknown): unknown {
  const cause = error as NodeJS.ErrnoException;
  const code = cause?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new PipeError(`stage "${stage}": the cache disk is full: ${cause.message}`, {
      code: 'E_CACHE_DISK_FULL',
      stage,
      hint: DISK_FULL_HINT,
      exitCode: 1,
      cause: error,
    });
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'EIO')
    return new PipeError(`stage "${stage}": could not write to the cache: ${cause.message}`, {
      code: 'E_CACHE_WRITE',
      stage,
      hint: 'check that the cache folder (--cache) is on a writable disk and belongs to you',
      exitCode: 1,
      cause: error,
    });
  return error;
}

/**
 * The folder of each upstream output a stage reads, after checking that the output is still what
 * its digest says: a command that wrote into an upstream output earlier in this run (as root, the
 * objects' read-only mode does not stop it) must not feed that content to its siblings.
 */
async function materializeInputs(
  stage: ResolvedStage,
  slots: Record<string, string>,
  trees: ReadonlyMap<string, string>,
  store: CacheStore,
): Promise<SlotInput[]> {
  const inputs: SlotInput[] = [];
  for (const [slot, upstream] of Object.entries(slots)) {
    const tree = await slotTree(stage, slot, trees.get(upstream)!, store, { put: true });
    const damage = await store.checkTree(tree);
    if (damage) {
      if (damage.file !== undefined && damage.reason !== 'is missing') store.quarantineObject(damage.digest);
      throw new PipeError(
        `stage "${stage.name}": the output of "${upstream}" changed in the cache during this run: ${describeDamage(damage)}`,
        {
          code: 'E_INPUT_DAMAGED',
          stage: stage.name,
          hint: 'a command wrote into an output it was given; run again to recompute it (the damaged object is in cache/quarantine/)',
          exitCode: 1,
        },
      );
    }
    inputs.push({ slot, stage: upstream, tree, dir: await store.materialize(tree) });
  }
  return inputs;
}
