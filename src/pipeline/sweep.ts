// A sweep: many variants of one experiment, each a set of param overrides. This module is pure: it
// reads `--sweep a.b=1,2` arguments and the `sweep:` block of an experiment file into axes, checks
// their shape, expands the grid (plus explicit variants) and names every variant. Whether each value
// fits its param is checked by resolving (sweep-resolve.ts).
import { createHash } from 'node:crypto';
import { canonicalJson } from '../cache/canonical.ts';
import { type ErrorSink, type Loc, PipeError } from '../errors.ts';
import { isExperimentName } from './schema.ts';

/** One value of a swept param, with where it was written (a `sweep:` block) or which flag gave it. */
export interface SweepValue {
  value: unknown;
  loc?: Loc;
  /** Where its param is named (the grid's key, or the variant's), for "unknown param". */
  keyLoc?: Loc;
  /** Where it came from in words, for messages: `--sweep train.max_lr=6e-4` or `sweep.grid`. */
  origin: string;
}

/** A swept param and its values (a grid axis). */
export interface SweepAxis {
  path: string;
  values: SweepValue[];
  loc?: Loc;
}

/** A variant listed explicitly in `sweep.variants`. */
export interface ExplicitVariant {
  values: Record<string, SweepValue>;
  loc?: Loc;
}

/** What a sweep is made of, before it is checked against the spec. */
export interface SweepDecl {
  name?: string;
  nameLoc?: Loc;
  axes: SweepAxis[];
  variants: ExplicitVariant[];
}

/** One variant: its name and its overrides (dotted param path → value), in the sweep's param order. */
export interface SweepVariant {
  name: string;
  values: Record<string, unknown>;
  /** Where each value was written, by path (for located errors). */
  sources: Record<string, SweepValue>;
  loc?: Loc;
}

export interface SweepPlan {
  /** The sweep's name (`--sweep-name`, `sweep.name`, else the experiment's name). */
  name: string;
  /** The swept params, in the order they were given. */
  params: string[];
  variants: SweepVariant[];
}

const PARAM_PATH = /^[A-Za-z_][\w-]*(\.[\w-]+)*$/;
/** Longest variant name; longer ones end in a hash (a folder name stays well under 255 bytes). */
const MAX_NAME = 120;

/** Reads `--sweep a.b=v1,v2` flags; values are YAML scalars (parsed by `parseValue`) split at commas. */
export function axesFromFlags(
  flags: readonly string[],
  parseValue: (text: string) => unknown,
  sink: ErrorSink,
): SweepAxis[] {
  const axes: SweepAxis[] = [];
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const path = eq > 0 ? flag.slice(0, eq).trim() : '';
    if (!PARAM_PATH.test(path)) {
      sink.add(
        new PipeError(`--sweep "${flag}" is not of the form a.b.c=value1,value2`, {
          code: 'E_USAGE_SWEEP',
          hint: 'for example: --sweep train.max_lr=6e-4,1.8e-3',
        }),
      );
      continue;
    }
    const texts = flag
      .slice(eq + 1)
      .split(',')
      .map((t) => t.trim());
    if (texts.every((t) => t === '')) {
      sink.add(
        new PipeError(`--sweep ${path}= lists no values`, {
          code: 'E_SWEEP_EMPTY',
          hint: `give one or more values separated by commas: --sweep ${path}=1,2`,
        }),
      );
      continue;
    }
    const values = texts.map((text) => ({ value: parseValue(text), origin: `--sweep ${path}=${text}` }));
    axes.push({ path, values });
  }
  return checkAxes(axes, sink);
}

/** The `sweep:` block of an experiment file (already shape-checked by SweepSchema) as a declaration. */
export function declFromBlock(
  block: { name?: string; grid?: Record<string, unknown[]>; variants?: Record<string, unknown>[] },
  locate: (path: (string | number)[], at?: 'key' | 'value') => Loc,
  sink: ErrorSink,
): SweepDecl {
  const axes: SweepAxis[] = [];
  for (const [path, list] of Object.entries(block.grid ?? {})) {
    const loc = locate(['sweep', 'grid', path], 'key');
    if (!checkPath(path, loc, sink)) continue;
    if (list.length === 0) {
      sink.add(
        new PipeError(`sweep.grid.${path} lists no values`, {
          code: 'E_SWEEP_EMPTY',
          loc,
          hint: `list one or more values: ${path}: [1, 2]`,
        }),
      );
      continue;
    }
    axes.push({
      path,
      loc,
      values: list.map((value, i) => ({
        value,
        loc: locate(['sweep', 'grid', path, i]),
        keyLoc: loc,
        origin: `sweep.grid ${path}`,
      })),
    });
  }
  const variants: ExplicitVariant[] = [];
  (block.variants ?? []).forEach((entry, i) => {
    const loc = locate(['sweep', 'variants', i]);
    const values: Record<string, SweepValue> = {};
    for (const [path, value] of Object.entries(entry)) {
      if (!checkPath(path, locate(['sweep', 'variants', i, path], 'key'), sink)) continue;
      values[path] = {
        value,
        loc: locate(['sweep', 'variants', i, path]),
        keyLoc: locate(['sweep', 'variants', i, path], 'key'),
        origin: `sweep.variants[${i}] ${path}`,
      };
    }
    if (Object.keys(entry).length === 0) {
      sink.add(
        new PipeError(`sweep.variants[${i}] sets no param`, {
          code: 'E_SWEEP_EMPTY',
          loc,
          hint: 'a variant is a mapping of params to values, e.g. {train.max_lr: 3e-3}',
        }),
      );
      return;
    }
    variants.push({ values, loc });
  });
  if (axes.length === 0 && variants.length === 0 && sink.errors.length === 0) {
    sink.add(
      new PipeError('the sweep: block has no grid: and no variants:', {
        code: 'E_SWEEP_EMPTY',
        loc: locate(['sweep'], 'key'),
        hint: 'add grid: {train.max_lr: [6e-4, 1.8e-3]} or a list under variants:',
      }),
    );
  }
  return {
    ...(block.name !== undefined ? { name: block.name, nameLoc: locate(['sweep', 'name']) } : {}),
    axes: checkAxes(axes, sink),
    variants,
  };
}

function checkPath(path: string, loc: Loc, sink: ErrorSink): boolean {
  if (PARAM_PATH.test(path)) return true;
  sink.add(
    new PipeError(`"${path}" is not a param path`, {
      code: 'E_SWEEP_PARAM',
      loc,
      hint: 'name a param by its dotted path, e.g. train.max_lr',
    }),
  );
  return false;
}

/** A param swept twice, or a value listed twice on one axis, would make duplicate variants. */
function checkAxes(axes: SweepAxis[], sink: ErrorSink): SweepAxis[] {
  const seen = new Set<string>();
  const out: SweepAxis[] = [];
  for (const axis of axes) {
    if (seen.has(axis.path)) {
      sink.add(
        new PipeError(`param "${axis.path}" is swept twice`, {
          code: 'E_SWEEP_DUPLICATE',
          loc: axis.loc,
          hint: 'list all its values once: --sweep a.b=1,2,3',
        }),
      );
      continue;
    }
    seen.add(axis.path);
    const values = new Map<string, SweepValue>();
    for (const v of axis.values) {
      const id = canonicalJson(v.value);
      const first = values.get(id);
      if (first) {
        sink.add(
          new PipeError(`${axis.path} lists the value ${formatValue(v.value)} twice`, {
            code: 'E_SWEEP_DUPLICATE',
            loc: v.loc,
            hint: `each value once: ${v.origin} repeats ${first.origin}`,
          }),
        );
        continue;
      }
      values.set(id, v);
    }
    out.push({ ...axis, values: [...values.values()] });
  }
  return out;
}

/**
 * Every variant of the sweep: the grid's product (first axis slowest), then the explicit variants.
 * Two variants with the same values are an error at the second one. `base` is the experiment's name.
 */
export function expandSweep(decl: SweepDecl, base: string, sweepName: string, sink: ErrorSink): SweepPlan {
  const combos: { sources: Record<string, SweepValue>; loc?: Loc }[] = [];
  if (decl.axes.length > 0) {
    let partial: Record<string, SweepValue>[] = [{}];
    for (const axis of decl.axes)
      partial = partial.flatMap((p) => axis.values.map((v) => ({ ...p, [axis.path]: v })));
    combos.push(...partial.map((sources) => ({ sources })));
  }
  for (const variant of decl.variants) combos.push({ sources: variant.values, loc: variant.loc });

  const params = [...new Set(combos.flatMap((c) => Object.keys(c.sources)))];
  const byValues = new Map<string, (typeof combos)[number]>();
  const unique: typeof combos = [];
  for (const combo of combos) {
    const id = canonicalJson(valuesOf(combo.sources));
    const first = byValues.get(id);
    if (first) {
      sink.add(
        new PipeError(`the sweep lists the variant ${describe(valuesOf(combo.sources))} twice`, {
          code: 'E_SWEEP_DUPLICATE',
          loc: combo.loc,
          hint: first.loc
            ? `it repeats the variant at line ${first.loc.line}; remove one`
            : 'it is already in the grid; remove it from variants:',
        }),
      );
      continue;
    }
    byValues.set(id, combo);
    unique.push(combo);
  }
  const names = variantNames(
    base,
    params,
    unique.map((c) => valuesOf(c.sources)),
  );
  return {
    name: sweepName,
    params,
    variants: unique.map((c, i) => ({
      name: names[i]!,
      values: valuesOf(c.sources),
      sources: c.sources,
      ...(c.loc ? { loc: c.loc } : {}),
    })),
  };
}

function valuesOf(sources: Record<string, SweepValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(sources).map(([path, s]) => [path, s.value]));
}

function describe(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([path, value]) => `${path}=${formatValue(value)}`)
    .join(', ');
}

/**
 * Readable, stable names within the experiment-name rule (a folder name): the experiment's name,
 * then `.<param>-<value>` per swept param, e.g. `demo.max_lr-6e-4.context_length-64`. A param is
 * named by the last segment of its path (more segments when two swept params share it); a value by
 * its shortest plain form (6e-4, not 0.0006, whichever way it was written), with characters a
 * folder name cannot hold turned into `_`. A name that would be ambiguous or too long gets a hash of
 * the values appended.
 */
export function variantNames(
  base: string,
  params: readonly string[],
  variants: Record<string, unknown>[],
): string[] {
  const labels = paramLabels(params);
  const raw = variants.map((values) =>
    [
      base,
      ...params
        .filter((p) => Object.hasOwn(values, p))
        .map((p) => `${labels.get(p)}-${valueLabel(values[p])}`),
    ].join('.'),
  );
  const counts = new Map<string, number>();
  for (const name of raw) counts.set(name, (counts.get(name) ?? 0) + 1);
  return raw.map((name, i) => {
    const hash = createHash('sha1').update(canonicalJson(variants[i])).digest('hex').slice(0, 8);
    if (name.length > MAX_NAME) return `${name.slice(0, MAX_NAME - 9)}-${hash}`;
    const named = counts.get(name)! > 1 ? `${name}-${hash}` : name;
    return isExperimentName(named) ? named : `${base}.${hash}`;
  });
}

/** Shortest suffix of each path's segments that no other swept path ends with, joined by `_`. */
function paramLabels(params: readonly string[]): Map<string, string> {
  const labels = new Map<string, string>();
  for (const path of params) {
    const segments = path.split('.');
    let n = 1;
    const suffix = (p: string, k: number) => p.split('.').slice(-k).join('_');
    while (n < segments.length && params.some((o) => o !== path && suffix(o, n) === suffix(path, n))) n++;
    labels.set(path, suffix(path, n).replace(/[^A-Za-z0-9_-]/g, '_'));
  }
  return labels;
}

/** A value as a name part: numbers in their shortest form, the rest as text, unsafe characters `_`. */
export function valueLabel(value: unknown): string {
  return formatValue(value).replace(/[^A-Za-z0-9._-]/g, '_');
}

/** A value as people write it: 6e-4 rather than 0.0006; strings bare. */
export function formatValue(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value) && !Number.isInteger(value)) {
    const plain = String(value);
    const exp = value.toExponential().replace('e+', 'e');
    return exp.length < plain.length ? exp : plain;
  }
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

/** A sweep's name must name a file under the cache like an experiment's; refused with where it came from. */
export function checkSweepName(name: string, loc: Loc | undefined, sink: ErrorSink): boolean {
  if (isExperimentName(name)) return true;
  sink.add(
    new PipeError(`${JSON.stringify(name)} is not a valid sweep name`, {
      code: 'E_SWEEP_NAME',
      loc,
      hint: 'a sweep name starts with a letter or digit and uses letters, digits, ".", "-" and "_"',
    }),
  );
  return false;
}
