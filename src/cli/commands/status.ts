// `gpt2o-pipe status [EXPERIMENT…]`: which stages are up to date, and why the others are not.
import { existsSync, readdirSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { EXIT_OK } from '../../errors.ts';
import { type StageStatusReport, stageStatuses } from '../../run/status.ts';
import { findProjectRoot, parseCommandArgs } from '../args.ts';
import { type ExperimentTarget, resolveTargets } from '../experiment-targets.ts';
import type { CliIo } from '../io.ts';
import { checkStageNames, openWorkspace } from '../workspace.ts';

export const STATUS_HELP = `Usage: gpt2o-pipe status [EXPERIMENT...] [options]

Shows, for each stage, whether its result is in the cache (up-to-date), must be recomputed
(stale, with the reasons: changed params with old and new values, changed deps, changed
upstream outputs, changed commands or stage versions) or has never been run.

  EXPERIMENT          experiment or pipeline files, or the name of a sweep (all its
                      variants) or of a sweep's variant (default: every experiments/*.yaml,
                      or pipeline.yaml when there is no experiments/ folder)
  --set KEY=VALUE     override a param (repeatable), as with run
  --force STAGE       show STAGE as \`run --force STAGE\` would see it: stale, "forced" (repeatable)
  --json              print {"experiments": [{"experiment", "stages": [{"name", "state", "reasons",
                      "key", "warnings"}]}]}
  --cache DIR         cache folder
`;

const OPTIONS = {
  set: { type: 'string', multiple: true },
  force: { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const;

export async function statusCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('status', args, OPTIONS);
  if (values.help) {
    io.stdout(STATUS_HELP);
    return EXIT_OK;
  }
  const targets =
    positionals.length > 0
      ? resolveTargets(io, positionals, values.cache).targets
      : defaultExperiments(io.cwd).map((specFile) => ({ specFile, sets: [] }) as ExperimentTarget);
  const experiments: { experiment: string; file: string; stages: StageStatusReport[] }[] = [];
  for (const target of targets) {
    const { graph, store } = await openWorkspace(io, target.specFile, {
      sets: [...target.sets, ...(values.set ?? [])],
      cache: values.cache,
      ...(target.variant ? { variant: target.variant } : {}),
    });
    checkStageNames(io, graph, values.force ?? []);
    experiments.push({
      experiment: graph.spec.experiment,
      file: graph.spec.specFile,
      stages: await stageStatuses(graph, store, {
        force: new Set(values.force ?? []),
        defaultExecutor: graph.spec.executor,
      }),
    });
  }
  if (values.json) {
    const payload = {
      experiments: experiments.map((e) => ({
        experiment: e.experiment,
        stages: e.stages.map((s) => ({
          name: s.name,
          state: s.state,
          reasons: s.reasons,
          key: s.key ?? null,
          warnings: s.warnings,
        })),
      })),
    };
    io.stdout(`${JSON.stringify(payload)}\n`);
    return EXIT_OK;
  }
  for (const e of experiments) {
    const width = Math.max(0, ...e.stages.map((s) => s.name.length));
    const upToDate = e.stages.filter((s) => s.state === 'up-to-date').length;
    io.stdout(
      `${e.experiment} (${relative(io.cwd, e.file)}): ${upToDate}/${e.stages.length} stages up to date\n`,
    );
    for (const s of e.stages) {
      const mark = s.state === 'up-to-date' ? '✔' : s.state === 'stale' ? '✖' : '○';
      io.stdout(`  ${mark} ${s.name.padEnd(width)}  ${s.state}\n`);
      for (const reason of s.reasons) io.stdout(`      ${reason}\n`);
      for (const warning of s.warnings) io.stdout(`      warning: ${warning}\n`);
    }
  }
  return EXIT_OK;
}

/** Every experiment of the project the working folder is in (found upwards, as `run` does). */
function defaultExperiments(cwd: string): string[] {
  const root = findProjectRoot(cwd) ?? cwd;
  const dir = resolve(root, 'experiments');
  if (existsSync(dir)) {
    const files = readdirSync(dir)
      .filter((n) => /\.ya?ml$/.test(n))
      .sort()
      .map((n) => resolve(dir, n));
    if (files.length > 0) return files;
  }
  return [resolve(root, 'pipeline.yaml')];
}
