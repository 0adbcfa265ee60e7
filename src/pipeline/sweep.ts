// A sweep: many variants of one experiment, each a set of param overrides. This module is pure: it
// holds what a sweep is made of, and expands the grid (plus explicit variants) into variants, named
// by sweep-names.ts. The declaration is read by sweep-decl.ts. Whether each value
// fits its param is checked by resolving (sweep-resolve.ts).
import { canonicalJson } from '../cache/canonical.ts';
import { type ErrorSink, type Loc, PipeError } from '../errors.ts';
import { formatValue, variantNames } from './sweep-names.ts';

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
