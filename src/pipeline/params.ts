// Params: nested defaults from pipeline.yaml, overridden by experiments and `--set`, nanoGPT-style:
// an override must name a param that exists and keep its type, so typos fail loudly.
import { type ErrorSink, type Loc, PipeError } from '../errors.ts';
import { closest, suggestionHint } from '../util/did-you-mean.ts';

export type ParamTree = { [key: string]: unknown };

/** Where each param's current value was set, to point errors at the right file and line. */
export type ParamOrigins = Map<string, Loc>;

export function isPlainObject(value: unknown): value is ParamTree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at a dotted path, or undefined; `found` tells apart a missing path from a null value. */
export function getPath(tree: ParamTree, path: string): { found: boolean; value?: unknown } {
  let node: unknown = tree;
  for (const segment of path.split('.')) {
    if (!isPlainObject(node) || !Object.hasOwn(node, segment)) return { found: false };
    node = node[segment];
  }
  return { found: true, value: node };
}

/** Every dotted path in the tree, leaves and branches, for did-you-mean suggestions. */
export function allPaths(tree: ParamTree, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    out.push(path);
    if (isPlainObject(value)) out.push(...allPaths(value, path));
  }
  return out;
}

/** Records where every param of a file was set. */
export function recordOrigins(
  tree: ParamTree,
  locate: (path: string[]) => Loc,
  origins: ParamOrigins,
  prefix: string[] = [],
): void {
  for (const [key, value] of Object.entries(tree)) {
    const path = [...prefix, key];
    origins.set(path.join('.'), locate(path));
    if (isPlainObject(value)) recordOrigins(value, locate, origins, path);
  }
}

/**
 * Applies `overrides` onto a copy of `base`. Unknown names and changed types are errors located by
 * `locate` (relative path inside the override tree). Objects merge deeply; lists and scalars replace.
 */
export function mergeOverrides(
  base: ParamTree,
  overrides: ParamTree,
  locate: (path: string[]) => Loc | undefined,
  origins: ParamOrigins,
  sink: ErrorSink,
  prefix: string[] = [],
  root: ParamTree = base,
): ParamTree {
  const out: ParamTree = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const path = [...prefix, key];
    const dotted = path.join('.');
    if (!Object.hasOwn(base, key)) {
      sink.add(
        new PipeError(`unknown param "${dotted}"`, {
          code: 'E_SPEC_UNKNOWN_PARAM',
          loc: locate(path),
          hint: `${unknownParamHint(dotted, root, base, prefix)}; a new param must first get a default in pipeline.yaml`,
        }),
      );
      continue;
    }
    const current = base[key];
    if (isPlainObject(current)) {
      if (!isPlainObject(value)) {
        sink.add(typeError(dotted, current, value, locate(path)));
        continue;
      }
      out[key] = mergeOverrides(current, value, locate, origins, sink, path, root);
      continue;
    }
    if (!sameKind(current, value)) {
      sink.add(typeError(dotted, current, value, locate(path)));
      continue;
    }
    out[key] = value;
    const loc = locate(path);
    if (loc) origins.set(dotted, loc);
    else origins.delete(dotted);
  }
  return out;
}

/**
 * A typo's fix from every param; failing that, the params beside it (a renamed param such as
 * codec.provider → codec.device is not a typo, but its new name sits among its siblings).
 */
function unknownParamHint(dotted: string, root: ParamTree, base: ParamTree, prefix: string[]): string {
  const guess = closest(dotted, allPaths(root));
  if (guess || prefix.length === 0) return suggestionHint(dotted, allPaths(root), 'params');
  const siblings = Object.keys(base).map((key) => [...prefix, key].join('.'));
  return suggestionHint(dotted, siblings, `params under ${prefix.join('.')}`);
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'list';
  if (isPlainObject(value)) return 'mapping';
  return typeof value;
}

/** Kinds must match; a null default accepts anything, and a `${...}` string may stand for any kind. */
function sameKind(current: unknown, value: unknown): boolean {
  const a = kindOf(current);
  const b = kindOf(value);
  return a === 'null' || b === 'null' || a === b || (typeof value === 'string' && value.includes('${'));
}

function typeError(path: string, current: unknown, value: unknown, loc: Loc | undefined): PipeError {
  return new PipeError(
    `param "${path}" is a ${kindOf(current)} (default ${JSON.stringify(current)}), got a ${kindOf(value)}`,
    {
      code: 'E_SPEC_PARAM_TYPE',
      loc,
      hint: `give "${path}" a ${kindOf(current)} value, e.g. ${JSON.stringify(current)}`,
    },
  );
}

/** Builds `{a: {b: value}}` from `a.b` — the shape of one `--set a.b=value`. */
export function treeFromPath(path: string, value: unknown): ParamTree {
  const segments = path.split('.');
  let tree: unknown = value;
  for (const segment of segments.reverse()) tree = { [segment]: tree };
  return tree as ParamTree;
}
