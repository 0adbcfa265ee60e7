// From an experiment file plus `--sweep` flags (or its `sweep:` block) to the resolved variants of
// the sweep, every one checked before anything runs: a value that its param refuses (wrong kind, a
// stage schema's bound) is an error located at that value, and so is a param that does not exist.
import { ErrorSink, type Loc, PipeError, PipeErrorList } from '../errors.ts';
import type { StageRegistry } from '../stage-api/index.ts';
import { loadYaml } from '../util/load-yaml.ts';
import { resolveSpec } from './resolve.ts';
import { expandSweep, type SweepDecl, type SweepPlan, type SweepValue, type SweepVariant } from './sweep.ts';
import { axesFromFlags } from './sweep-decl.ts';
import { checkSweepName, formatValue } from './sweep-names.ts';
import type { ResolvedSpec } from './types.ts';

export interface SweepRequest {
  /** `--set` overrides under every variant. */
  sets: string[];
  /** `--sweep a.b=v1,v2` flags; when given, they replace the file's `sweep:` block. */
  flags: string[];
  /** `--sweep-name`. */
  name?: string;
  registry: StageRegistry;
}

export interface ResolvedSweep {
  plan: SweepPlan;
  /** The experiment the variants vary (resolved with `sets` only). */
  base: ResolvedSpec;
  variants: { variant: SweepVariant; spec: ResolvedSpec }[];
}

/** The sweep of `entry`, resolved and checked; undefined when neither flags nor the file sweep. */
export async function resolveSweep(entry: string, request: SweepRequest): Promise<ResolvedSweep | undefined> {
  const base = await resolveSpec(entry, { sets: request.sets, registry: request.registry });
  const sink = new ErrorSink();
  let decl: SweepDecl | undefined = base.sweep;
  if (request.flags.length > 0) {
    const yaml = await loadYaml();
    const parse = (text: string): unknown => {
      try {
        const doc = yaml.parseDocument(text);
        return doc.errors.length > 0 ? text : doc.toJS();
      } catch {
        return text;
      }
    };
    decl = { axes: axesFromFlags(request.flags, parse, sink), variants: [] };
  }
  if (!decl) return undefined;
  const name = request.name ?? decl.name ?? base.experiment;
  checkSweepName(name, request.name === undefined ? decl.nameLoc : undefined, sink);
  sink.throwIfAny();

  // Each value on its own first, so an error names the value that causes it.
  for (const axis of decl.axes) {
    for (const value of axis.values) {
      const problems = await problemsOf(entry, request, base.experiment, { [axis.path]: value });
      for (const problem of problems) sink.add(problem);
      // A param that does not exist fails every value the same way: say it once.
      if (problems.some((p) => p.code === 'E_SPEC_UNKNOWN_PARAM')) break;
    }
  }
  sink.throwIfAny();

  const plan = expandSweep(decl, base.experiment, name, sink);
  sink.throwIfAny();
  const variants: ResolvedSweep['variants'] = [];
  for (const variant of plan.variants) {
    try {
      const spec = await resolveSpec(entry, {
        sets: request.sets,
        registry: request.registry,
        variant: { name: variant.name, values: variant.values, sources: variant.sources },
      });
      variants.push({ variant, spec });
    } catch (error) {
      for (const problem of relabel(error, variant.sources, `variant ${variant.name}`)) sink.add(problem);
    }
  }
  sink.throwIfAny();
  return { plan, base, variants };
}

/** The errors of resolving `entry` with these values, each pointing at the value it is about. */
async function problemsOf(
  entry: string,
  request: SweepRequest,
  baseName: string,
  sources: Record<string, SweepValue>,
): Promise<PipeError[]> {
  const values = Object.fromEntries(Object.entries(sources).map(([p, s]) => [p, s.value]));
  try {
    await resolveSpec(entry, {
      sets: request.sets,
      registry: request.registry,
      variant: { name: baseName, values, sources },
    });
    return [];
  } catch (error) {
    return relabel(error, sources, undefined);
  }
}

/**
 * Errors of a resolve with sweep values: those already located at a value stay as they are; others
 * (a stage schema refusing the interpolated value, say) are moved onto the value, naming where
 * they were found. Anything that is not a PipeError is a bug and is thrown as it is.
 */
function relabel(error: unknown, sources: Record<string, SweepValue>, what: string | undefined): PipeError[] {
  if (!(error instanceof PipeError)) throw error;
  const errors = error instanceof PipeErrorList ? error.errors : [error];
  const entries = Object.entries(sources);
  const same = (a: Loc | undefined, b: Loc | undefined) =>
    a !== undefined && b !== undefined && a.file === b.file && a.line === b.line && a.col === b.col;
  const atValue = (e: PipeError) => entries.some(([, s]) => same(s.loc, e.loc) || same(s.keyLoc, e.loc));
  return errors.map((e) => {
    if (atValue(e) || e.message.startsWith('--sweep ')) return e;
    const [path, source] = entries.length === 1 ? entries[0]! : [undefined, undefined];
    const subject = path
      ? `${path}=${formatValue(source!.value)}${source!.loc ? '' : ` (${source!.origin})`}`
      : `${what ?? 'sweep variant'} (${entries.map(([p, s]) => `${p}=${formatValue(s.value)}`).join(', ')})`;
    const where = e.loc ? ` at ${e.loc.file}:${e.loc.line}:${e.loc.col}` : '';
    return new PipeError(`${subject}: ${e.message}${where}`, {
      code: e.code,
      // The reporter shows the spec files a message names relative to where the command runs.
      paths: [...e.paths, ...(e.loc ? [e.loc.file] : [])],
      loc: source?.loc ?? entries.find(([, s]) => s.loc)?.[1].loc,
      ...(e.stage ? { stage: e.stage } : {}),
      hint: e.hint ?? 'pick a value this param accepts',
    });
  });
}
