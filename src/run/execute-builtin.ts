// Runs one built-in (`uses:`) stage through the stage API: the stage gets its validated params,
// read-only input folders and a fresh output folder; it never sees the cache.
import { EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import { normalizeDep } from '../spec/stages.ts';
import type { UsesStage } from '../spec/types.ts';
import { type StageContext, StageError } from '../stage-api/index.ts';
import type { Emit } from './events.ts';
import type { StageLog } from './stage-log.ts';

export interface BuiltinRunInput {
  stage: UsesStage;
  /** Declared dep path → absolute path. */
  depPaths: ReadonlyMap<string, string>;
  outDir: string;
  /** Kept across interrupted runs of this key (see StageContext.resumeDir). */
  resumeDir: string;
  /** Slot → materialized upstream output folder. */
  inputDirs: ReadonlyMap<string, string>;
  log: StageLog;
  signal: AbortSignal;
  emit: Emit;
}

/** Runs the stage; resolves with its metrics, rejects with a PipeError naming the stage. */
export async function runBuiltinStage(input: BuiltinRunInput): Promise<{ metrics: Record<string, unknown> }> {
  const { stage, log, emit } = input;
  const metrics: Record<string, unknown> = {};
  const context: StageContext = {
    params: stage.with,
    inputs: [...input.inputDirs.keys()],
    input(slot) {
      const dir = input.inputDirs.get(slot);
      if (!dir) throw new StageError(`stage asked for input "${slot}", which is not bound in needs:`);
      return dir;
    },
    dep(path) {
      const absolute = input.depPaths.get(normalizeDep(path));
      if (!absolute) throw new StageError(`stage asked for "${path}", which its deps() did not declare`);
      return absolute;
    },
    outDir: input.outDir,
    resumeDir: input.resumeDir,
    log: (message) => log.line(message),
    progress: (progress) => emit({ type: 'stage-progress', stage: stage.name, progress }),
    metric: (name, value) => {
      metrics[name] = value;
    },
    signal: input.signal,
  };
  try {
    await stage.definition.run(context);
  } catch (error) {
    if (input.signal.aborted) {
      throw new PipeError(`stage "${stage.name}" was interrupted`, {
        code: 'E_INTERRUPTED',
        stage: stage.name,
        exitCode: 130,
      });
    }
    const known = error instanceof StageError;
    log.line(known ? `error: ${error.message}` : String((error as Error)?.stack ?? error));
    throw new PipeError(
      `stage "${stage.name}" (uses ${stage.uses}) failed: ${(error as Error)?.message ?? error}`,
      {
        code: known ? 'E_STAGE_FAILED' : 'E_STAGE_CRASHED',
        stage: stage.name,
        loc: stage.loc,
        hint: known
          ? error.hint
          : `this looks like a bug in the built-in stage "${stage.uses}"; the log has the stack: ${log.path}`,
        exitCode: EXIT_STAGE_FAILED,
        cause: error,
      },
    );
  }
  return { metrics };
}
