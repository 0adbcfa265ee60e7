// The targets the bench grades. Each check holds the measured value, its bound and a verdict; a
// check whose peer is not installed is SKIP, never FAIL, so the bench runs anywhere.
export type Verdict = 'PASS' | 'FAIL' | 'SKIP';

export interface Check {
  /** Stable key for --json consumers, e.g. `noop.linear7.run_vs_snakemake`. */
  id: string;
  label: string;
  value: number | null;
  op: '<=' | '>=' | '<';
  target: number;
  unit: 'x' | 'ms' | 'MB' | '%';
  verdict: Verdict;
  /** Why the check was skipped; null otherwise (always present, for stable --json keys). */
  note: string | null;
}

/** Grades a value against its bound; a null value (peer missing) is SKIP with the given note. */
export function grade(
  spec: Omit<Check, 'verdict' | 'value' | 'note'>,
  value: number | null,
  skipNote = 'not measured',
): Check {
  if (value === null) return { ...spec, value, verdict: 'SKIP', note: skipNote };
  const pass =
    spec.op === '<=' ? value <= spec.target : spec.op === '>=' ? value >= spec.target : value < spec.target;
  return { ...spec, value, verdict: pass ? 'PASS' : 'FAIL', note: null };
}

/** a / b, or null when either side is missing. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null || b === 0 ? null : a / b;
}
