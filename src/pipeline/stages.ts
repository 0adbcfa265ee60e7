// Resolves the `stages:` of a root spec: schema per stage kind, interpolation, needs, paths.
import { posix } from 'node:path';
import { type ErrorSink, type Loc, PipeError } from '../errors.ts';
import type { StageDefinition, StageRegistry } from '../stage-api/index.ts';
import { suggestionHint } from '../util/did-you-mean.ts';
import { renderCmd } from './cmd-env.ts';
import { ExpansionBudget, interpolateValue, lookupRef, parseOrReport } from './interpolate.ts';
import { isPlainObject, type ParamTree } from './params.ts';
import { CmdStageSchema, checkSchema, checkStageName, UsesStageSchema } from './schema.ts';
import type {
  CmdStage,
  ExecutorName,
  NeedBinding,
  PathDecl,
  ResolvedStage,
  StageResources,
  UsesStage,
} from './types.ts';
import type { YamlFile } from './yaml-file.ts';

type Path = (string | number)[];

/** Resolves every stage of the root file; problems go to `sink`, broken stages are left out. */
export async function resolveStages(
  file: YamlFile,
  stages: Record<string, unknown>,
  params: ParamTree,
  registry: StageRegistry,
  sink: ErrorSink,
  budget = new ExpansionBudget(),
): Promise<ResolvedStage[]> {
  const names = Object.keys(stages);
  const out: ResolvedStage[] = [];
  for (const name of names) {
    if (!checkStageName(name, file, sink)) continue;
    const base: Path = ['stages', name];
    const raw = stages[name];
    const loc = file.locate(base, 'key');
    if (!isPlainObject(raw) || 'cmd' in raw === 'uses' in raw) {
      sink.add(
        new PipeError(`stage "${name}" must have exactly one of "cmd:" or "uses:"`, {
          code: 'E_SPEC_STAGE_KIND',
          loc,
          stage: name,
          hint: 'use `cmd: <shell command>` with deps:/outs:, or `uses: <built-in stage>` with with:',
        }),
      );
      continue;
    }
    const context = { file, base, name, loc, params, sink, names, budget };
    const stage =
      'cmd' in raw ? resolveCmdStage(raw, context) : await resolveUsesStage(raw, context, registry);
    if (stage) out.push(stage);
  }
  return out;
}

interface ResolveContext {
  file: YamlFile;
  base: Path;
  name: string;
  loc: Loc;
  params: ParamTree;
  sink: ErrorSink;
  names: string[];
  budget: ExpansionBudget;
}

function resolveCmdStage(raw: unknown, c: ResolveContext): CmdStage | undefined {
  const spec = checkSchema(CmdStageSchema, raw, c.file, c.base, c.sink, { stage: c.name, what: 'cmd stage' });
  if (!spec) return undefined;
  const refs = new Map<string, unknown>();
  const cmdLoc = c.file.locate([...c.base, 'cmd']);
  const parts = parseOrReport(spec.cmd, cmdLoc, c.sink, c.name);
  if (!parts) return undefined;
  const { rendered, problems } = renderCmd(parts, (ref) =>
    lookupRef(ref, c.params, refs, cmdLoc, c.sink, c.name),
  );
  for (const problem of problems) {
    c.sink.add(
      new PipeError(problem.message, {
        code: 'E_SPEC_CMD_PARAM',
        loc: cmdLoc,
        stage: c.name,
        hint: problem.hint,
      }),
    );
  }
  if (problems.length > 0) return undefined;
  return {
    kind: 'cmd',
    name: c.name,
    loc: c.loc,
    description: spec.description,
    needs: resolveNeeds(spec.needs, c),
    params: sortedRecord(refs),
    template: spec.cmd,
    ...placement(spec),
    cmd: rendered.cmd,
    env: rendered.env,
    deps: resolvePaths(spec.deps ?? [], 'deps', c),
    outs: resolvePaths(spec.outs ?? [], 'outs', c),
  };
}

async function resolveUsesStage(
  raw: unknown,
  c: ResolveContext,
  registry: StageRegistry,
): Promise<UsesStage | undefined> {
  const spec = checkSchema(UsesStageSchema, raw, c.file, c.base, c.sink, {
    stage: c.name,
    what: 'uses stage',
  });
  if (!spec) return undefined;
  const builtins = registry.names();
  if (!builtins.includes(spec.uses)) {
    c.sink.add(
      new PipeError(`"uses: ${spec.uses}" names no built-in stage`, {
        code: 'E_SPEC_UNKNOWN_USES',
        loc: c.file.locate([...c.base, 'uses']),
        stage: c.name,
        hint: suggestionHint(spec.uses, builtins, 'built-in stages'),
      }),
    );
    return undefined;
  }
  const definition = await registry.load(spec.uses);
  const refs = new Map<string, unknown>();
  const locate = (path: Path) => c.file.locate([...c.base, 'with', ...path]);
  const interpolated = interpolateValue(spec.with ?? {}, c.params, locate, refs, c.sink, c.name, c.budget);
  const checked = checkSchema(definition.params, interpolated, c.file, [...c.base, 'with'], c.sink, {
    stage: c.name,
    what: `"with:" of built-in stage ${definition.name}`,
  });
  const needs = resolveNeeds(spec.needs, c);
  checkInputsBound(definition, needs, c);
  if (checked === undefined) return undefined;
  const withLoc = c.file.locate([...c.base, 'with']);
  const deps = (definition.deps?.(checked) ?? []).map((path) => ({ path: normalizeDep(path), loc: withLoc }));
  return {
    kind: 'uses',
    name: c.name,
    loc: c.loc,
    description: spec.description,
    needs,
    params: sortedRecord(refs),
    template: spec.with ?? {},
    ...placement(spec),
    uses: spec.uses,
    definition,
    with: checked as Record<string, unknown>,
    deps,
  };
}

/** Every input slot the built-in stage declares must be bound through needs:. */
function checkInputsBound(
  definition: StageDefinition,
  needs: readonly { slot: string }[],
  c: ResolveContext,
): void {
  for (const slot of definition.inputs ?? []) {
    if (!needs.some((n) => n.slot === slot)) {
      c.sink.add(
        new PipeError(`stage "${c.name}" (uses ${definition.name}) needs an input "${slot}"`, {
          code: 'E_SPEC_MISSING_INPUT',
          loc: c.file.locate([...c.base, 'needs'], 'key'),
          stage: c.name,
          hint: `bind it to an upstream stage: needs: { ${slot}: <stage> }`,
        }),
      );
    }
  }
}

/** `executor:` and `resources:`, only when written (they never enter the cache key). */
function placement(spec: { executor?: ExecutorName; resources?: StageResources }) {
  return {
    ...(spec.executor ? { executor: spec.executor } : {}),
    ...(spec.resources ? { resources: spec.resources } : {}),
  };
}

/** A built-in stage's dep: absolute paths stay absolute, relative ones are normalized POSIX paths. */
export function normalizeDep(path: string): string {
  const normalized = posix.normalize(path.replaceAll('\\', '/'));
  return normalized.length > 1 ? normalized.replace(/\/+$/, '') : normalized;
}

function resolveNeeds(
  needs: string[] | Record<string, string> | undefined,
  c: ResolveContext,
): NeedBinding[] {
  if (!needs) return [];
  const entries: [string, string, Path][] = Array.isArray(needs)
    ? needs.map((stage, i) => [stage, stage, [...c.base, 'needs', i]])
    : Object.entries(needs).map(([slot, stage]) => [slot, stage, [...c.base, 'needs', slot]]);
  const out: NeedBinding[] = [];
  for (const [slot, stage, path] of entries) {
    const loc = c.file.locate(path);
    if (stage === c.name) {
      c.sink.add(
        new PipeError(`stage "${c.name}" needs itself`, {
          code: 'E_SPEC_SELF_DEPENDENCY',
          loc,
          stage: c.name,
          hint: 'remove it from its own needs:',
        }),
      );
    } else if (!c.names.includes(stage)) {
      c.sink.add(
        new PipeError(`stage "${c.name}" needs unknown stage "${stage}"`, {
          code: 'E_SPEC_UNKNOWN_STAGE',
          loc,
          stage: c.name,
          hint: suggestionHint(stage, c.names, 'stages'),
        }),
      );
    } else if (!out.some((n) => n.stage === stage && n.slot === slot)) out.push({ slot, stage, loc });
  }
  return out;
}

function resolvePaths(paths: string[], key: 'deps' | 'outs', c: ResolveContext): PathDecl[] {
  const out: PathDecl[] = [];
  // A Set, not out.some(): a join over 5,000 stages lists 5,000 deps (quadratic took 0.2 s).
  const seen = new Set<string>();
  paths.forEach((raw, i) => {
    const loc = c.file.locate([...c.base, key, i]);
    const path = posix.normalize(raw.replaceAll('\\', '/')).replace(/\/+$/, '');
    if (
      raw.trim() === '' ||
      posix.isAbsolute(path) ||
      path === '..' ||
      path.startsWith('../') ||
      path === '.'
    ) {
      c.sink.add(
        new PipeError(`${key} path "${raw}" must be a relative path inside the project`, {
          code: 'E_SPEC_PATH',
          loc,
          stage: c.name,
          hint: `paths in ${key}: are relative to the folder of pipeline.yaml and stay inside it`,
        }),
      );
      return;
    }
    if (seen.has(path)) return;
    seen.add(path);
    out.push({ path, loc });
  });
  return out;
}

function sortedRecord(map: Map<string, unknown>): Record<string, unknown> {
  return Object.fromEntries([...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
