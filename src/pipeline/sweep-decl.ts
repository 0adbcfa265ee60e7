// A sweep's declaration, read: `--sweep a.b=1,2` flags and the `sweep:` block of an experiment
// file into axes and explicit variants, each value with where it came from, their shape checked
// (param paths, empty lists, a param or a value given twice). Pure.
import { canonicalJson } from '../cache/canonical.ts';
import { type ErrorSink, type Loc, PipeError } from '../errors.ts';
import type { ExplicitVariant, SweepAxis, SweepDecl, SweepValue } from './sweep.ts';
import { formatValue } from './sweep-names.ts';

const PARAM_PATH = /^[A-Za-z_][\w-]*(\.[\w-]+)*$/;

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
export function declFromBlock(block: SweepBlock, locate: Locate, sink: ErrorSink): SweepDecl {
  const axes = gridAxes(block, locate, sink);
  const variants = explicitVariants(block, locate, sink);
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

type SweepBlock = { name?: string; grid?: Record<string, unknown[]>; variants?: Record<string, unknown>[] };
type Locate = (path: (string | number)[], at?: 'key' | 'value') => Loc;

/** The axes of `grid:`, each value with where it was written. */
function gridAxes(block: SweepBlock, locate: Locate, sink: ErrorSink): SweepAxis[] {
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
  return axes;
}

/** The variants listed in `variants:`, each value with where it was written. */
function explicitVariants(block: SweepBlock, locate: Locate, sink: ErrorSink): ExplicitVariant[] {
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
  return variants;
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
