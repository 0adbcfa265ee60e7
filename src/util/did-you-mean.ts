// "Did you mean …?" suggestions for unknown names (params, stages, keys, built-in stage names).

/** Levenshtein distance; inputs are short identifiers, so the O(n·m) table is fine. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate, if it is close enough to be a plausible typo. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const limit = Math.max(2, Math.floor(name.length / 3));
  return bestDistance <= limit ? best : undefined;
}

/** A hint sentence: `did you mean "x"?` plus, when short enough, the valid names. */
export function suggestionHint(name: string, candidates: string[], what: string): string {
  const guess = closest(name, candidates);
  const parts: string[] = [];
  if (guess) parts.push(`did you mean "${guess}"?`);
  if (candidates.length > 0 && candidates.length <= 12) parts.push(`valid ${what}: ${candidates.join(', ')}`);
  else if (candidates.length === 0) parts.push(`there are no ${what}`);
  return parts.join(' ');
}
