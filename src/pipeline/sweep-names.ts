// How a sweep's variants and values are named: stable, readable folder names within the
// experiment-name rule, and values as people write them. Pure.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../cache/canonical.ts';
import { type ErrorSink, type Loc, PipeError } from '../errors.ts';
import { isExperimentName } from './schema.ts';

/** Longest variant name; longer ones end in a hash (a folder name stays well under 255 bytes). */
const MAX_NAME = 120;

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
