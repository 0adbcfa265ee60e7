// Resolves `${...}` references: first among params themselves (with loop detection), then in each
// stage's `with:` and `cmd:`, recording exactly which params a stage reads (they enter its key).
import { ErrorSink, type Loc, PipeError } from '../errors.ts';
import { closest } from '../util/did-you-mean.ts';
import { allPaths, getPath, isPlainObject, type ParamOrigins, type ParamTree } from './params.ts';
import { parseTemplate, scalarText, soleRef, type TemplatePart, TemplateSyntaxError } from './template.ts';

/** Interpolates string params that reference other params; reports unknown refs and loops. */
export function interpolateParams(tree: ParamTree, origins: ParamOrigins, sink: ErrorSink): ParamTree {
  const done = new Map<string, unknown>();
  const stack: string[] = [];
  const failed = new Set<string>();

  const resolvePath = (path: string, from: Loc | undefined): unknown => {
    if (done.has(path)) return done.get(path);
    if (failed.has(path)) return undefined;
    const loopStart = stack.indexOf(path);
    if (loopStart >= 0) {
      const cycle = [...stack.slice(loopStart), path];
      for (const p of cycle) failed.add(p);
      sink.add(
        new PipeError(`\${} loop between params: ${cycle.join(' -> ')}`, {
          code: 'E_SPEC_INTERPOLATION_LOOP',
          loc: origins.get(path) ?? from,
          hint: 'give one of these params a plain value',
        }),
      );
      return undefined;
    }
    const raw = getPath(tree, path).value;
    stack.push(path);
    let value: unknown;
    if (isPlainObject(raw)) {
      value = Object.fromEntries(Object.keys(raw).map((k) => [k, resolvePath(`${path}.${k}`, from)]));
    } else if (Array.isArray(raw)) {
      value = raw.map((item) => (typeof item === 'string' ? resolveString(item, path) : item));
    } else value = typeof raw === 'string' ? resolveString(raw, path) : raw;
    stack.pop();
    done.set(path, value);
    return value;
  };

  const resolveString = (text: string, path: string): unknown => {
    const loc = origins.get(path);
    // A param without a file location came from --set: its errors say so instead.
    const local = loc ? sink : new ErrorSink();
    const parts = parseOrReport(text, loc, local);
    const value = parts
      ? renderValue(parts, (ref) => {
          if (!getPath(tree, ref).found) {
            local.add(unknownParamError(ref, tree, loc));
            return undefined;
          }
          return resolvePath(ref, loc);
        })
      : text;
    if (local !== sink)
      for (const e of local.errors)
        sink.add(new PipeError(`--set ${path}: ${e.message} (in "${text}")`, { code: e.code, hint: e.hint }));
    return value;
  };

  const out: ParamTree = {};
  for (const key of Object.keys(tree)) out[key] = resolvePath(key, undefined);
  return out;
}

/** Interpolates a `with:` value tree against resolved params; `refs` collects path → value. */
export function interpolateValue(
  value: unknown,
  params: ParamTree,
  loc: (path: (string | number)[]) => Loc,
  refs: Map<string, unknown>,
  sink: ErrorSink,
  stage: string,
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    const parts = parseOrReport(value, loc(path), sink, stage);
    if (!parts) return value;
    return renderValue(parts, (ref) => lookupRef(ref, params, refs, loc(path), sink, stage));
  }
  if (Array.isArray(value))
    return value.map((v, i) => interpolateValue(v, params, loc, refs, sink, stage, [...path, i]));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        interpolateValue(v, params, loc, refs, sink, stage, [...path, k]),
      ]),
    );
  }
  return value;
}

/** Looks a ref up in the resolved params and records it; unknown refs are reported with a suggestion. */
export function lookupRef(
  ref: string,
  params: ParamTree,
  refs: Map<string, unknown>,
  loc: Loc,
  sink: ErrorSink,
  stage?: string,
): unknown {
  const hit = getPath(params, ref);
  if (!hit.found) {
    sink.add(unknownParamError(ref, params, loc, stage));
    return undefined;
  }
  refs.set(ref, hit.value);
  return hit.value;
}

/** Parses a template, turning syntax errors into located spec errors. */
export function parseOrReport(
  text: string,
  loc: Loc | undefined,
  sink: ErrorSink,
  stage?: string,
): TemplatePart[] | undefined {
  try {
    return parseTemplate(text);
  } catch (error) {
    if (!(error instanceof TemplateSyntaxError)) throw error;
    sink.add(
      new PipeError(error.message, {
        code: 'E_SPEC_TEMPLATE',
        loc,
        stage,
        hint: 'write ${a.b} to use a param, or $${ for a literal "${"',
      }),
    );
    return undefined;
  }
}

function renderValue(parts: TemplatePart[], lookup: (ref: string) => unknown): unknown {
  const sole = soleRef(parts);
  if (sole !== undefined) return lookup(sole);
  return parts.map((p) => ('text' in p ? p.text : scalarText(lookup(p.ref)))).join('');
}

function unknownParamError(ref: string, params: ParamTree, loc: Loc | undefined, stage?: string): PipeError {
  const guess = closest(ref, allPaths(params));
  return new PipeError(`unknown param \${${ref}}`, {
    code: 'E_SPEC_UNKNOWN_PARAM',
    loc,
    stage,
    hint: guess ? `did you mean \${${guess}}?` : 'declare it under params: in pipeline.yaml',
  });
}
