// Why a cached result cannot be served, in words a warning can carry.

/** Why a cached result cannot be served: one of its objects is missing, damaged or corrupt. */
export interface Damage {
  digest: string;
  path: string;
  /** The file of the output tree it holds; absent for the tree manifest itself. */
  file?: string;
  /** Set when the run record itself is damaged (then `digest` is the key). */
  record?: true;
  reason: string;
}

export function describeDamage(damage: Damage): string {
  if (damage.record) return `cached run record ${damage.path} ${damage.reason}`;
  const what = damage.file === undefined ? 'the output tree manifest' : `"${damage.file}"`;
  return `cached object ${damage.path} (${what}) ${damage.reason}`;
}

export function corruptReason(actual: string | undefined): string {
  return actual === undefined ? 'cannot be read' : `is corrupt (its content hashes to ${actual})`;
}
