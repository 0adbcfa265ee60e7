// `gpt2o-pipe logs [EXPERIMENT] STAGE`: the full log of a stage's latest run in an experiment.
// The record keeps only the last lines; the whole log stays in cache/logs/<key>.log.
import { readFileSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { readRef, refVariant } from '../../cache/refs.ts';
import type { CacheStore } from '../../cache/store.ts';
import { EXIT_OK, PipeError } from '../../errors.ts';
import type { Graph } from '../../graph/build.ts';
import { stageStatuses } from '../../run/status.ts';
import { suggestionHint } from '../../util/did-you-mean.ts';
import { defaultExperiment, looksLikeSpecFile, parseCommandArgs } from '../args.ts';
import { resolveTargets } from '../experiment-targets.ts';
import type { CliIo } from '../io.ts';
import { openWorkspace } from '../workspace.ts';

export const LOGS_HELP = `Usage: gpt2o-pipe logs [EXPERIMENT] STAGE [options]

Prints the full log of STAGE's latest run in an experiment: the one its last \`run\` recorded, or a
later attempt that failed or was stopped with the experiment as it is now (stderr then says so).

  EXPERIMENT          an experiment or pipeline file, or a sweep variant's name
                      (default: experiments/demo.yaml when it exists, else pipeline.yaml)
  --cache DIR         cache folder
`;

export async function logsCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('logs', args, {});
  if (values.help) {
    io.stdout(LOGS_HELP);
    return EXIT_OK;
  }
  const { specFile, name } = logsTarget(io, positionals);
  const { graph, store } = await openTargetWorkspace(io, specFile, name, values.cache);
  const shown = relative(io.cwd, graph.spec.specFile);
  const { key, useAttempt } = await logKey(graph, store, name);
  if (!key) {
    throw new PipeError(`stage "${name}" has not run in experiment "${graph.spec.experiment}" yet`, {
      code: 'E_LOGS_NOT_RUN',
      hint: `run it first: gpt2o-pipe run ${shown}`,
    });
  }
  let text: string;
  try {
    text = readFileSync(store.layout.log(key), 'utf8');
  } catch {
    throw new PipeError(`the log of stage "${name}" (key ${key.slice(0, 12)}) is no longer in the cache`, {
      code: 'E_LOGS_MISSING',
      hint: `rerun it to get a new log: gpt2o-pipe run ${shown} ${name} --force ${name}`,
    });
  }
  if (useAttempt)
    io.stderr(
      `logs: the latest attempt of "${name}" (key ${key.slice(0, 12)}) has no result in the cache: it failed, was stopped or is still running\n`,
    );
  io.stdout(text);
  return EXIT_OK;
}

/** `[EXPERIMENT] STAGE`: the spec file (or variant name) and the one stage named. */
function logsTarget(io: CliIo, positionals: string[]): { specFile: string; name: string } {
  const first = positionals[0];
  const explicit = first !== undefined && (positionals.length > 1 || looksLikeSpecFile(first, io.cwd));
  const specFile = explicit ? first! : defaultExperiment(io.cwd);
  const rest = explicit ? positionals.slice(1) : positionals;
  if (rest.length !== 1) {
    throw new PipeError(rest.length === 0 ? 'logs: name a stage' : 'logs: name one stage', {
      code: 'E_USAGE',
      hint: 'gpt2o-pipe logs EXPERIMENT STAGE, for example: gpt2o-pipe logs experiments/demo.yaml train',
    });
  }
  return { specFile, name: rest[0]! };
}

/** The workspace of one experiment or sweep variant, which must have stage `name`. */
async function openTargetWorkspace(io: CliIo, specFile: string, name: string, cache: string | undefined) {
  const targets = resolveTargets(io, [specFile], cache).targets;
  if (targets.length !== 1) {
    throw new PipeError(`logs: "${specFile}" is a sweep of ${targets.length} variants; name one of them`, {
      code: 'E_USAGE',
      hint: `for example: gpt2o-pipe logs ${targets[0]?.variant?.name ?? 'VARIANT'} ${name}`,
    });
  }
  const target = targets[0]!;
  const workspace = await openWorkspace(io, target.specFile, {
    cache,
    sets: target.sets,
    ...(target.variant ? { variant: target.variant } : {}),
  });
  const { graph } = workspace;
  if (!graph.stages.has(name)) {
    throw new PipeError(`no stage named "${name}" in ${relative(io.cwd, graph.spec.specFile)}`, {
      code: 'E_USAGE_UNKNOWN_STAGE',
      hint: suggestionHint(name, graph.order, 'stages'),
    });
  }
  return workspace;
}

/**
 * The key whose log to show. The ref names the key of the stage's last recorded result. A run that
 * failed or was stopped records nothing, yet its log is the one people look for: the stage's key as
 * the experiment stands now finds it, when it has a log but no result and is newer than the recorded one.
 */
async function logKey(
  graph: Graph,
  store: CacheStore,
  name: string,
): Promise<{ key: string | undefined; useAttempt: boolean }> {
  const recorded = readRef(store, graph.spec.specFile, refVariant(graph.spec))?.stages[name]?.key;
  const current = (await stageStatuses(graph, store)).find((s) => s.name === name)?.key;
  const attempt =
    current && current !== recorded && !store.readRecord(current)
      ? mtime(store.layout.log(current))
      : undefined;
  const useAttempt =
    attempt !== undefined && attempt > (recorded ? (mtime(store.layout.log(recorded)) ?? 0) : 0);
  return { key: useAttempt ? current : recorded, useAttempt };
}

function mtime(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}
