// What the checks of `verify` return: the problems to report, and for each one the repair that
// puts it right. The checks only read; repair.ts alone changes the cache.
export type ProblemKind = 'object' | 'record' | 'tree' | 'ref';

export interface VerifyProblem {
  kind: ProblemKind;
  /** The file or folder concerned (absolute). */
  path: string;
  /** The object digest concerned (for a tree: the tree's digest); null when there is none. */
  digest: string | null;
  reason: string;
}

/** The repairs the problems call for, by what they do. */
export interface Repairs {
  /** Entries to move to quarantine/ (corrupt objects, names the store never makes), path → name. */
  quarantine: Map<string, string>;
  /** Run records to delete: the next run recomputes their key. */
  records: Set<string>;
  /** Materialized trees to delete: the next use builds them again. */
  trees: Set<string>;
  /** Refs: an unreadable one is moved aside (no `drop`), else the stages it names without a result. */
  refs: Map<string, { drop?: string[] }>;
}

/** Problems and repairs, collected by the checks in order. */
export class Findings {
  readonly problems: VerifyProblem[] = [];
  readonly repairs: Repairs = {
    quarantine: new Map(),
    records: new Set(),
    trees: new Set(),
    refs: new Map(),
  };

  /** A name the store never makes: moved aside by --repair, never deleted. */
  foreign(kind: ProblemKind, path: string, name: string, reason: string, digest: string | null = null): void {
    this.problems.push({ kind, path, digest, reason });
    this.repairs.quarantine.set(path, name);
  }

  record(path: string, digest: string | null, reason: string): void {
    this.problems.push({ kind: 'record', path, digest, reason });
    this.repairs.records.add(path);
  }

  tree(dir: string, path: string, digest: string | null, reason: string): void {
    this.problems.push({ kind: 'tree', path, digest, reason });
    this.repairs.trees.add(dir);
  }

  ref(path: string, digest: string | null, reason: string): void {
    this.problems.push({ kind: 'ref', path, digest, reason });
  }
}
