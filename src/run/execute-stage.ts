// Executes one stage the plan says must run; the caller holds the key's lock. The shell is the same
// for both kinds of stage: materialize the inputs, hand them to the kind's executor in a scratch
// folder, store what it names as outputs, write the run record. Executors share one signature
// (`StageRun` in, `StageResult` out), so nothing here asks which kind a stage is.
import { existsSync, rmdirSync } from 'node:fs';
import { rm, statfs } from 'node:fs/promises';
import { hostname } from 'node:os';
import { describeDamage } from '../cache/damage.ts';
import { inputSlots, slotTree } from '../cache/key.ts';
import type { KeyDescription, RunRecord } from '../cache/record.ts';
import type { CacheStore } from '../cache/store.ts';
import { storeOutputs } from '../cache/tree-snapshot.ts';
import { EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import type { Graph } from '../graph/build.ts';
import type { ResolvedStage } from '../pipeline/types.ts';
import type { StageResources } from '../stage-api/index.ts';
import { formatBytes } from '../util/format.ts';
import type { Emit, StageOutcome } from './events.ts';
import { executeBuiltin } from './execute-builtin.ts';
import { executeCmd } from './execute-cmd.ts';
import { slurmJobInfo } from './slurm/index.ts';
import { StageLog } from './stage-log.ts';
import { TOOL_VERSION } from './version.ts';

/** An upstream output bound to one of the stage's input slots, materialized. */
export interface SlotInput {
  slot: string;
  /** The upstream stage's name. */
  stage: string;
  /** Its output tree digest and the folder holding it. */
  tree: string;
  dir: string;
}

/** What every executor is given. */
export interface StageRun<S extends ResolvedStage = ResolvedStage> {
  stage: S;
  graph: Graph;
  store: CacheStore;
  /** Fresh folder the stage writes its outputs into. */
  scratch: string;
  /** Kept across interrupted runs of this key (see StageContext.resumeDir); not created here. */
  resumeDir: string;
  inputs: readonly SlotInput[];
  log: StageLog;
  signal: AbortSignal;
  emit: Emit;
  /** What a built-in stage may use of the machine (StageContext.workers, threads, memoryBytes). */
  resources: StageResources;
}

/** What every executor hands back: the paths under scratch to store, metrics and warnings. */
export interface StageResult {
  outs: string[];
  metrics: Record<string, unknown>;
  warnings: string[];
}

type Executor<S extends ResolvedStage = ResolvedStage> = (run: StageRun<S>) => Promise<StageResult>;

/** The one place that maps a stage kind to its executor. */
const EXECUTORS: { [K in ResolvedStage['kind']]: Executor<Extract<ResolvedStage, { kind: K }>> } = {
  cmd: executeCmd,
  uses: executeBuiltin,
};

export interface ExecuteInput {
  stage: ResolvedStage;
  key: string;
  description: KeyDescription;
  /** Output tree of each upstream stage, by name. */
  trees: ReadonlyMap<string, string>;
  graph: Graph;
  store: CacheStore;
  signal: AbortSignal;
  emit: Emit;
  resources: StageResources;
}

export async function executeStage(input: ExecuteInput): Promise<StageOutcome> {
  const { stage, key, store, graph, emit, signal, resources } = input;
  const started = Date.now();
  const work = await cacheWrite(stage.name, store.makeTmpDir(`run-${stage.name}`));
  const resumeDir = store.layout.resume(key);
  const log = new StageLog(store.layout.log(key), (line) =>
    emit({ type: 'stage-log', stage: stage.name, line }),
  );
  emit({ type: 'stage-start', stage: stage.name, key });
  const slots = inputSlots(stage, graph);
  try {
    const inputs = await cacheWrite(stage.name, materializeInputs(stage, slots, input.trees, store));
    const execute = EXECUTORS[stage.kind] as Executor;
    const run = { stage, graph, store, scratch: work, resumeDir, inputs, log, signal, emit, resources };
    const { outs, metrics, warnings } = await execute(run);
    const output = await cacheWrite(stage.name, storeOutputs(store, work, outs, stage.name));
    // The output's folder is built now, while other stages run: its consumers and the runs/ link
    // at the end of the run need it, and built there a join of 1,000 stages built 1,000 folders
    // one after another while nothing else could run.
    await cacheWrite(stage.name, store.materialize(output.tree));
    for (const message of warnings) {
      log.line(`warning: ${message}`);
      emit({ type: 'stage-warning', stage: stage.name, message });
    }
    await log.close();
    const seconds = (Date.now() - started) / 1000;
    const record = runRecord(input, {
      slots,
      output,
      metrics,
      warnings,
      started,
      seconds,
      logTail: log.tail(),
    });
    await cacheWrite(stage.name, store.writeRecord(record));
    // The result is in the cache; what the stage kept to resume from is no longer needed. One
    // look first: most stages (every cmd stage) keep nothing.
    if (existsSync(resumeDir)) await rm(resumeDir, { recursive: true, force: true });
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
    const failure = error instanceof PipeError ? await diskFullInstead(error, work, log.tail()) : error;
    return {
      name: stage.name,
      status: 'failed',
      key,
      seconds: (Date.now() - started) / 1000,
      error: failure as Error,
      logPath: log.path,
      logTail: log.tail(),
    };
  } finally {
    await removeScratch(work);
  }
}

/** Removes a stage's scratch folder; its outputs were moved out, so it is often empty (one rmdir). */
async function removeScratch(work: string): Promise<void> {
  try {
    rmdirSync(work);
  } catch {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The record of a finished run: what the key produced, how, where and when. */
function runRecord(
  input: ExecuteInput,
  run: Pick<RunRecord, 'output' | 'metrics' | 'warnings' | 'seconds' | 'logTail'> & {
    slots: Record<string, string>;
    started: number;
  },
): RunRecord {
  const { stage } = input;
  return {
    format: 1,
    key: input.key,
    description: input.description,
    stage: stage.name,
    experiment: input.graph.spec.experiment,
    params: stage.params,
    template: stage.template,
    inputStages: run.slots,
    output: run.output,
    metrics: run.metrics,
    warnings: run.warnings,
    startedAt: new Date(run.started).toISOString(),
    seconds: run.seconds,
    logTail: run.logTail,
    tools: {
      gpt2oPipe: TOOL_VERSION,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
    },
    host: hostname(),
    ...slurmJobInfo(process.env),
  };
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
  return new PipeError(`${error.message}: the cache disk is full (${formatBytes(free)} free)`, {
    code: 'E_CACHE_DISK_FULL',
    stage: error.stage,
    loc: error.loc,
    hint: DISK_FULL_HINT,
    exitCode: error.exitCode,
    cause: error,
  });
}

/**
 * Runs one step that writes the cache. A file-system error from it (a full disk, a read-only or
 * unwritable cache folder) becomes a PipeError naming it; anything else is a bug and stays itself,
 * so it is reported as an internal error with its stack. Only the cache-writing steps go through
 * here: an executor's own unexpected error is never taken for a cache problem.
 */
async function cacheWrite<T>(stage: string, step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (error) {
    throw cacheWriteError(stage, error);
  }
}

function cacheWriteError(stage: string, error: unknown): unknown {
  const cause = error as NodeJS.ErrnoException;
  const code = cause?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new PipeError(`stage "${stage}": the cache disk is full: ${cause.message}`, {
      code: 'E_CACHE_DISK_FULL',
      stage,
      hint: DISK_FULL_HINT,
      exitCode: EXIT_STAGE_FAILED,
      cause: error,
    });
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'EIO')
    return new PipeError(`stage "${stage}": could not write to the cache: ${cause.message}`, {
      code: 'E_CACHE_WRITE',
      stage,
      hint: 'check that the cache folder (--cache) is on a writable disk and belongs to you',
      exitCode: EXIT_STAGE_FAILED,
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
          exitCode: EXIT_STAGE_FAILED,
        },
      );
    }
    inputs.push({ slot, stage: upstream, tree, dir: await store.materialize(tree) });
  }
  return inputs;
}
