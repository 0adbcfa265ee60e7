// Runs one built-in (`uses:`) stage through the stage API: the stage gets its validated params,
// read-only input folders and a fresh output folder; it never sees the cache.
import { mkdir } from 'node:fs/promises';
import { depPath } from '../cache/key.ts';
import { EXIT_INTERRUPTED, EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import { normalizeDep } from '../pipeline/stages.ts';
import type { UsesStage } from '../pipeline/types.ts';
import { type StageContext, StageError } from '../stage-api/index.ts';
import type { StageResult, StageRun } from './execute-stage.ts';

/** Runs the stage; resolves with its metrics, rejects with a PipeError naming the stage. */
export async function executeBuiltin(input: StageRun<UsesStage>): Promise<StageResult> {
  const { stage, graph, log, emit } = input;
  const metrics: Record<string, unknown> = {};
  const inputDirs = new Map(input.inputs.map((i) => [i.slot, i.dir]));
  const depPaths = new Map(stage.deps.map((d) => [d.path, depPath(graph, d.path)]));
  await mkdir(input.resumeDir, { recursive: true });
  const context: StageContext = {
    params: stage.with,
    inputs: [...inputDirs.keys()],
    input(slot) {
      const dir = inputDirs.get(slot);
      if (!dir) throw new StageError(`stage asked for input "${slot}", which is not bound in needs:`);
      return dir;
    },
    dep(path) {
      const absolute = depPaths.get(normalizeDep(path));
      if (!absolute) throw new StageError(`stage asked for "${path}", which its deps() did not declare`);
      return absolute;
    },
    outDir: input.scratch,
    resumeDir: input.resumeDir,
    log: (message) => log.line(message),
    progress: (progress) => emit({ type: 'stage-progress', stage: stage.name, progress }),
    metric: (name, value) => {
      metrics[name] = value;
    },
    signal: input.signal,
    ...input.resources,
  };
  try {
    await stage.definition.run(context);
  } catch (error) {
    if (input.signal.aborted) {
      throw new PipeError(`stage "${stage.name}" was interrupted`, {
        code: 'E_INTERRUPTED',
        stage: stage.name,
        exitCode: EXIT_INTERRUPTED,
      });
    }
    if (!(error instanceof StageError)) {
      // Not a failure the stage reported: a bug in it (built-in stages are part of gpt2o-pipe). It
      // stays itself, so the run prints it as an internal error with its stack, never under a code.
      log.line(String((error as Error)?.stack ?? error));
      throw error;
    }
    log.line(`error: ${error.message}`);
    throw new PipeError(`stage "${stage.name}" (uses ${stage.uses}) failed: ${error.message}`, {
      code: 'E_STAGE_FAILED',
      stage: stage.name,
      loc: stage.loc,
      hint: error.hint,
      exitCode: EXIT_STAGE_FAILED,
      cause: error,
    });
  }
  // A built-in stage's whole output folder is its output.
  return { outs: [''], metrics, warnings: [] };
}
