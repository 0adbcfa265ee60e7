// The no-op journal: a fully cached `run`, remembered with every path its answer rested on and
// each path's stat then, so that the same run, asked again, answers by stat alone (make's way)
// instead of parsing the spec, keying and serving every stage again. A fully cached run of 5,000
// stages did ~100 µs of work per stage; checking its journal is a few stats per stage.
//
// Sound for the same reason as the stat cache and the memo of validated files: a path whose stat
// (size, mtime, ctime, inode) is unchanged holds what it held (a write moves ctime, which no one
// can set back), and the run's answer is a function of those paths' contents, the command line,
// the environment variables it reads and the build (all in the journal's name, see journalName).
// Only a run in which nothing it rested on changed from shortly before it started until it ended
// is remembered (racyEvidence), so the stats kept are the ones its answer was computed from.
//
// Deciding is pure here (encode, decode, compare); reading stats and files is the caller's.
import { createHash } from 'node:crypto';
import type { StatKey } from '../cache/stat-cache.ts';
import { RACY_MS, statUnchanged } from '../cache/stat-cache.ts';

// Bump when what a journal holds, or what a run's answer rests on, changes.
export const JOURNAL_FORMAT = 'gpt2o-noop-v1';

/** One path the answer rested on: its stat then (null: it did not exist); `follow`: stat, not lstat. */
export interface Evidence {
  path: string;
  follow: boolean;
  stat: StatKey | null;
}

export interface JournalStage {
  name: string;
  key: string;
  tree: string;
}

export interface NoopJournal {
  experiment: string;
  specFile: string;
  cacheRoot: string;
  /** The selected stages, in the run's order, each served from `key` with output `tree`. */
  stages: JournalStage[];
  /** Stage names in the order their ends were reported (a replay reports them so). */
  ended: string[];
  evidence: Evidence[];
}

/** What names a journal: everything besides file contents that a run's answer depends on. */
export interface JournalIdentity {
  build: string;
  cwd: string;
  args: readonly string[];
  /** The environment variables `run` reads (name → value, unset ones absent). */
  env: Readonly<Record<string, string>>;
}

export function journalName(identity: JournalIdentity): string {
  const hash = createHash('sha256').update(JOURNAL_FORMAT);
  // Lengths first: no two identities can concatenate to the same bytes.
  const parts = [identity.build, identity.cwd, ...identity.args, '\0env'];
  for (const [name, value] of Object.entries(identity.env).sort()) parts.push(name, value);
  for (const part of parts) hash.update(`\0${part.length}:${part}`);
  return hash.digest('hex').slice(0, 40);
}

/**
 * The journal as text: the format, a JSON line (what the run printed), then one line per path,
 * "L|S size mtime ctime ino path" (tab separated) or "L|S - path" for a path that did not exist.
 * Undefined when a path holds a line break (it could not be read back).
 */
export function encodeJournal(journal: NoopJournal): string | undefined {
  const { evidence, ...head } = journal;
  const lines = [JOURNAL_FORMAT, JSON.stringify(head)];
  for (const { path, follow, stat } of evidence) {
    if (path.includes('\n')) return undefined;
    const how = follow ? 'S' : 'L';
    lines.push(
      stat
        ? `${how}\t${stat.size}\t${stat.mtimeMs}\t${stat.ctimeMs}\t${stat.ino}\t${path}`
        : `${how}\t-\t${path}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The journal in `text`, or undefined when it is not one this code wrote (or was cut short). */
export function decodeJournal(text: string): NoopJournal | undefined {
  if (!text.endsWith('\n')) return undefined;
  const lines = text.slice(0, -1).split('\n');
  if (lines[0] !== JOURNAL_FORMAT || lines.length < 2) return undefined;
  let head: Omit<NoopJournal, 'evidence'>;
  try {
    head = JSON.parse(lines[1]!);
  } catch {
    return undefined;
  }
  if (!isHead(head)) return undefined;
  const evidence: Evidence[] = [];
  for (let i = 2; i < lines.length; i++) {
    const line = lines[i]!;
    const how = line[0];
    if ((how !== 'L' && how !== 'S') || line[1] !== '\t') return undefined;
    const follow = how === 'S';
    if (line.startsWith('-\t', 2)) {
      evidence.push({ path: line.slice(4), follow, stat: null });
      continue;
    }
    const fields = line.split('\t', 5);
    const numbers = fields.slice(1, 5).map(Number);
    if (fields.length < 5 || numbers.some((n) => !Number.isFinite(n))) return undefined;
    const start = fields.slice(0, 5).reduce((n, f) => n + f.length + 1, 0);
    const [size, mtimeMs, ctimeMs, ino] = numbers as [number, number, number, number];
    evidence.push({ path: line.slice(start), follow, stat: { size, mtimeMs, ctimeMs, ino } });
  }
  return { ...head, evidence };
}

function isHead(value: unknown): value is Omit<NoopJournal, 'evidence'> {
  const head = value as Partial<NoopJournal> | null;
  return (
    typeof head === 'object' &&
    head !== null &&
    typeof head.experiment === 'string' &&
    typeof head.specFile === 'string' &&
    typeof head.cacheRoot === 'string' &&
    Array.isArray(head.stages) &&
    head.stages.every(
      (s) => typeof s?.name === 'string' && typeof s.key === 'string' && typeof s.tree === 'string',
    ) &&
    Array.isArray(head.ended) &&
    head.ended.every((name) => typeof name === 'string')
  );
}

/** The first path whose stat now (`look`: undefined when it does not exist) differs from then. */
export function firstChange(
  evidence: readonly Evidence[],
  look: (path: string, follow: boolean) => StatKey | undefined,
): string | undefined {
  for (const { path, follow, stat } of evidence) {
    const now = look(path, follow);
    if (stat === null ? now !== undefined : now === undefined || !statUnchanged(toEntry(stat), now))
      return path;
  }
  return undefined;
}

function toEntry(stat: StatKey): [number, number, number, number] {
  return [stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino];
}

/**
 * The first path that changed after `since - RACY_MS` (`since`: when the run began): a run whose
 * evidence changed while it ran (or in the timestamp tick before) is not remembered, since its
 * answer may rest on what was there before the change.
 */
export function racyEvidence(evidence: readonly Evidence[], since: number): string | undefined {
  for (const { path, stat } of evidence)
    if (stat && Math.max(stat.mtimeMs, stat.ctimeMs) >= since - RACY_MS) return path;
  return undefined;
}
