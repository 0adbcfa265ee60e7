// The one interface between the engine and built-in stages (stages/*.ts). A stage module imports only
// this file and third-party libraries; it must be cheap to import (heavy libraries load inside run()),
// because `status` and a fully cached `run` load stage modules to read their version and schema.
import type { GenericSchema, InferOutput } from 'valibot';

/** Progress of a long stage, shown in the progress UI (e.g. bytes downloaded, seconds of audio). */
export interface StageProgress {
  done: number;
  total?: number;
  unit?: string;
  message?: string;
}

/** What a running stage sees. It never sees the cache, other stages' params or the spec. */
export interface StageContext<P = unknown> {
  /** The stage's `with:` inputs, interpolated and validated by its schema (defaults applied). */
  readonly params: Readonly<P>;
  /** Names of the input slots bound through `needs:`. */
  readonly inputs: readonly string[];
  /** Read-only path of an upstream stage's output tree, by slot name. */
  input(slot: string): string;
  /** Absolute path of a path the stage declared through `deps(params)` (as it returned it). */
  dep(path: string): string;
  /** A fresh, empty directory; everything written here becomes the stage's output. */
  readonly outDir: string;
  /**
   * A directory that survives an interrupted run of this exact stage key (same params and inputs)
   * and is deleted once the result is committed: a long stage keeps checkpoints here and, when
   * rerun, continues from them. Write into it atomically (a kill can come at any time).
   */
  readonly resumeDir: string;
  /** Appends a line to the stage log (kept in the run record's log tail). */
  log(message: string): void;
  progress(progress: StageProgress): void;
  /** Records a metric in the run record (what `compare` reads later). */
  metric(name: string, value: unknown): void;
  /** Aborted on Ctrl-C (the stage should stop promptly; nothing it wrote is kept). */
  readonly signal: AbortSignal;
  /**
   * How many worker threads a stage may start for work it splits across cores (at least 1): the
   * user's GPT2O_WORKERS, else one per core. It never changes what a stage writes, so it is not a
   * param and stays out of the key.
   */
  readonly workers: number;
  /**
   * Threads per ONNX Runtime session (at least 1): the user's GPT2O_THREADS, else one per core. A
   * setting of the machine, like `workers`: not a param, not in the key.
   */
  readonly threads: number;
  /** The memory a stage may plan for, in bytes: the user's GPT2O_MEMORY_LIMIT, else the machine's. */
  readonly memoryBytes: number;
}

/** What the engine hands every built-in stage of the machine's resources (read once, from the environment). */
export type StageResources = Pick<StageContext, 'workers' | 'threads' | 'memoryBytes'>;

/** A built-in stage. Bump `version` whenever its outputs for the same inputs would change. */
export interface StageDefinition<S extends GenericSchema = GenericSchema> {
  name: string;
  version: number;
  description: string;
  /** Schema of `with:`; only these keys enter the cache key. */
  params: S;
  /**
   * `with:` keys that change how the stage works but never what it writes (retries, timeouts). They
   * are left out of the key, so changing one reruns nothing. A key whose value can change a single
   * byte of the output (thread counts that reorder float sums, say) does not belong here.
   */
  keyless?: readonly string[];
  /** Input slots this stage requires through `needs:`. */
  inputs?: readonly string[];
  /**
   * The files the stage reads of an input slot, where it reads only some: paths relative to the
   * upstream output, a trailing `*` standing for any rest of the name (`val_*`), a trailing `/` for
   * a folder. Only these are linked into ctx.input(slot) and only their content enters the key, so
   * an upstream rerun that changes other files (train's timings, say) leaves this stage cached.
   */
  reads?: Readonly<Record<string, readonly string[]>>;
  /**
   * Local files or folders the stage reads, derived from its params (e.g. a local `source`); relative
   * paths are relative to the project root. Their content enters the stage key, as `deps:` of a
   * `cmd:` stage do, so editing them reruns the stage; run() gets their absolute paths via ctx.dep().
   */
  deps?(params: InferOutput<S>): string[];
  run(ctx: StageContext<InferOutput<S>>): Promise<void>;
}

/** Identity helper that keeps the params type flowing from the schema to `run`. */
export function defineStage<S extends GenericSchema>(definition: StageDefinition<S>): StageDefinition<S> {
  return definition;
}

/** A failure the stage can explain; the engine prints message and hint instead of a stack. */
export class StageError extends Error {
  readonly hint?: string;
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StageError';
    this.hint = options.hint;
  }
}

/**
 * Sizes and times left for people, as the engine writes them (1 KiB = 1024 B; src/util/format.ts
 * owns the rules). A stage's logs and errors are printed beside the engine's own, so they agree.
 */
export { formatBytes, formatEta } from '../util/format.ts';
export { workerSource } from '../util/worker-source.ts';

/** Finds stages by name and loads them lazily; the CLI hands one to the engine as a value. */
export interface StageRegistry {
  names(): string[];
  load(name: string): Promise<StageDefinition>;
}

/** A registry over lazy loaders (name → `() => import(...)`), loading each module at most once. */
export function createRegistry(
  loaders: Record<string, () => Promise<{ default: StageDefinition }>>,
): StageRegistry {
  const loaded = new Map<string, Promise<StageDefinition>>();
  return {
    names: () => Object.keys(loaders).sort(),
    load(name) {
      const loader = loaders[name];
      if (!loader) return Promise.reject(new Error(`no built-in stage named "${name}"`));
      let definition = loaded.get(name);
      if (!definition) {
        definition = loader().then((m) => m.default);
        loaded.set(name, definition);
      }
      return definition;
    },
  };
}
