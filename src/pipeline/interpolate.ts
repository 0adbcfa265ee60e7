// Resolves `${...}` references: first among params themselves (with loop detection), then in each
// stage's `with:` and `cmd:`, recording exactly which params a stage reads (they enter its key).
import { ErrorSink, type Loc, PipeError } from '../errors.ts';
import { closest } from '../util/did-you-mean.ts';
import { allPaths, getPath, isPlainObject, type ParamOrigins, type ParamTree } from './params.ts';
import { parseTemplate, scalarText, soleRef, type TemplatePart, TemplateSyntaxError } from './template.ts';

/**
 * Bounds on `${}` expansion. A value is a path, a number or a short string, so 1 MiB is far more
 * than any real one needs (and 8× what Linux lets one command-line or environment string hold),
 * while a hostile spec doubling a value 30 times would ask for gigabytes. A chain of refs deeper
 * than 64 (the YAML nesting bound too) is no real spec either; following it would use the stack.
 */
export const MAX_EXPANDED_CHARS = 1 << 20;
export const MAX_REF_DEPTH = 64;
/** All expansions of one spec together (many 1 MiB values are as bad as one huge one). */
export const MAX_TOTAL_EXPANDED_CHARS = 64 << 20;

/** Characters of expanded text one spec has produced so far. */
export class ExpansionBudget {
  used = 0;
}

const SIZE_HINT = `a \${} expansion may produce at most ${MAX_EXPANDED_CHARS} characters (${MAX_TOTAL_EXPANDED_CHARS} for the whole spec); do not build values by repeating other params`;

/** Interpolates string params that reference other params; reports unknown refs, loops and bounds. */
export function interpolateParams(
  tree: ParamTree,
  origins: ParamOrigins,
  sink: ErrorSink,
  budget = new ExpansionBudget(),
): ParamTree {
  const resolver = new ParamResolver(tree, origins, sink, budget);
  const out: ParamTree = {};
  for (const key of Object.keys(tree)) out[key] = resolver.resolvePath(key, undefined);
  return out;
}

/**
 * Resolves params depth first, each at most once: the paths being resolved form a stack (a path
 * met again on it is a loop), and each resolved path's value and ref depth are remembered.
 */
class ParamResolver {
  private readonly done = new Map<string, unknown>();
  /** How many refs deep each resolved path's value reaches (a plain value: 0). */
  private readonly depthOf = new Map<string, number>();
  private readonly stack: string[] = [];
  private readonly failed = new Set<string>();

  constructor(
    private readonly tree: ParamTree,
    private readonly origins: ParamOrigins,
    private readonly sink: ErrorSink,
    private readonly budget: ExpansionBudget,
  ) {}

  resolvePath(path: string, from: Loc | undefined): unknown {
    if (this.done.has(path)) return this.done.get(path);
    if (this.failed.has(path)) return undefined;
    const loopStart = this.stack.indexOf(path);
    if (loopStart >= 0) {
      const cycle = [...this.stack.slice(loopStart), path];
      this.fail(
        cycle,
        new PipeError(`\${} loop between params: ${cycle.join(' -> ')}`, {
          code: 'E_SPEC_INTERPOLATION_LOOP',
          loc: this.origins.get(path) ?? from,
          hint: 'give one of these params a plain value',
        }),
      );
      return undefined;
    }
    if (this.stack.length > MAX_REF_DEPTH) {
      this.reportTooDeep([...this.stack, path], from);
      return undefined;
    }
    this.stack.push(path);
    const { value, depth } = this.resolveValue(path, from);
    this.stack.pop();
    if (this.failed.has(path)) return undefined;
    if (depth > MAX_REF_DEPTH) {
      this.reportTooDeep([path], from, depth);
      return undefined;
    }
    this.done.set(path, value);
    this.depthOf.set(path, depth);
    return value;
  }

  /** The value at `path` with its refs resolved, and how many refs deep it reaches. */
  private resolveValue(path: string, from: Loc | undefined): { value: unknown; depth: number } {
    const raw = getPath(this.tree, path).value;
    let depth = 0;
    const refDepth = (d: number) => {
      depth = Math.max(depth, d);
    };
    let value: unknown;
    if (isPlainObject(raw)) {
      value = Object.fromEntries(
        Object.keys(raw).map((k) => {
          const child = this.resolvePath(`${path}.${k}`, from);
          refDepth(this.depthOf.get(`${path}.${k}`) ?? 0);
          return [k, child];
        }),
      );
    } else if (Array.isArray(raw)) {
      value = raw.map((item) => (typeof item === 'string' ? this.resolveString(item, path, refDepth) : item));
    } else value = typeof raw === 'string' ? this.resolveString(raw, path, refDepth) : raw;
    return { value, depth };
  }

  private resolveString(text: string, path: string, refDepth: (d: number) => void): unknown {
    const loc = this.origins.get(path);
    // A param without a file location came from --set: its errors say so instead.
    const local = loc ? this.sink : new ErrorSink();
    const parts = parseOrReport(text, loc, local);
    const rendered = parts
      ? renderValue(
          parts,
          (ref) => {
            if (!getPath(this.tree, ref).found) {
              local.add(unknownParamError(ref, this.tree, loc));
              return undefined;
            }
            const value = this.resolvePath(ref, loc);
            refDepth((this.depthOf.get(ref) ?? 0) + 1);
            return value;
          },
          this.budget,
        )
      : { value: text };
    if ('tooLong' in rendered) {
      this.failed.add(path);
      local.add(tooLongError(path, rendered.tooLong, loc));
    }
    if (local !== this.sink)
      for (const e of local.errors)
        this.sink.add(
          new PipeError(`--set ${path}: ${e.message} (in "${clip(text)}")`, { code: e.code, hint: e.hint }),
        );
    return 'value' in rendered ? rendered.value : undefined;
  }

  private fail(paths: string[], error: PipeError): void {
    for (const p of paths) this.failed.add(p);
    this.sink.add(error);
  }

  private reportTooDeep(chain: string[], from: Loc | undefined, depth?: number): void {
    const shown =
      chain.length > 7 ? [...chain.slice(0, 3), `… ${chain.length - 6} more …`, ...chain.slice(-3)] : chain;
    const last = chain[chain.length - 1]!;
    this.fail(
      chain,
      new PipeError(
        depth === undefined
          ? `\${} references nest deeper than ${MAX_REF_DEPTH}: ${shown.join(' -> ')}`
          : `\${} references nest deeper than ${MAX_REF_DEPTH} at param ${last} (${depth} deep)`,
        {
          code: 'E_SPEC_INTERPOLATION_DEPTH',
          loc: this.origins.get(last) ?? from,
          hint: `a param may reach a plain value through at most ${MAX_REF_DEPTH} \${} references; give one of them a plain value`,
        },
      ),
    );
  }
}

function tooLongError(
  what: string,
  limit: 'value' | 'spec',
  loc: Loc | undefined,
  stage?: string,
): PipeError {
  const message =
    limit === 'value'
      ? `expanding ${what} would produce more than ${MAX_EXPANDED_CHARS} characters`
      : `expanding ${what} would bring the spec's expansions over ${MAX_TOTAL_EXPANDED_CHARS} characters`;
  return new PipeError(message, {
    code: 'E_SPEC_INTERPOLATION_SIZE',
    loc,
    stage,
    hint: SIZE_HINT,
  });
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Interpolates a `with:` value tree against resolved params; `refs` collects path → value. */
export function interpolateValue(
  value: unknown,
  params: ParamTree,
  loc: (path: (string | number)[]) => Loc,
  refs: Map<string, unknown>,
  sink: ErrorSink,
  stage: string,
  budget: ExpansionBudget,
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    const parts = parseOrReport(value, loc(path), sink, stage);
    if (!parts) return value;
    const rendered = renderValue(
      parts,
      (ref) => lookupRef(ref, params, refs, loc(path), sink, stage),
      budget,
    );
    if ('value' in rendered) return rendered.value;
    sink.add(tooLongError(`with.${path.join('.')}`, rendered.tooLong, loc(path), stage));
    return undefined;
  }
  if (Array.isArray(value))
    return value.map((v, i) => interpolateValue(v, params, loc, refs, sink, stage, budget, [...path, i]));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        interpolateValue(v, params, loc, refs, sink, stage, budget, [...path, k]),
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

/** A template's value; text built from several parts counts against the size bounds as it grows. */
function renderValue(
  parts: TemplatePart[],
  lookup: (ref: string) => unknown,
  budget: ExpansionBudget,
): { value: unknown } | { tooLong: 'value' | 'spec' } {
  const sole = soleRef(parts);
  // A sole ref keeps its value (and its type): nothing new is built.
  if (sole !== undefined) return { value: lookup(sole) };
  const pieces: string[] = [];
  let length = 0;
  for (const part of parts) {
    const piece = 'text' in part ? part.text : scalarText(lookup(part.ref));
    length += piece.length;
    if (length > MAX_EXPANDED_CHARS) return { tooLong: 'value' };
    if (budget.used + length > MAX_TOTAL_EXPANDED_CHARS) return { tooLong: 'spec' };
    pieces.push(piece);
  }
  budget.used += length;
  return { value: pieces.join('') };
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
