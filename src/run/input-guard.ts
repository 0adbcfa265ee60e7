// Detects a command that changed the inputs it was given. A `cmd:` stage sees its deps (the
// user's own files) and upstream outputs (hard links to cache objects) through links in its
// scratch folder, so `sort -o in.txt in.txt` or, as root, `echo x >> up.txt` would write through
// them. Before the command every input is stat'ed (walking folders); afterwards the walk is
// repeated, and any difference fails the stage. A cache object changed in place is quarantined.
import { lstatSync, readdirSync, type Stats, statSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { hashFile } from '../cache/hash.ts';
import type { CacheStore } from '../cache/store.ts';
import { yieldToEventLoop } from '../util/yield.ts';

/** One input as the command sees it. */
export interface GuardedInput {
  /** Its path in the scratch folder (how messages name it). */
  shown: string;
  /** The real file or folder the scratch link points at. */
  absolute: string;
  /** Set for an upstream output: its tree, so a changed object can be checked and quarantined. */
  tree?: { digest: string; dir: string; files: ReadonlyMap<string, string> };
}

interface EntryState {
  kind: 'file' | 'dir' | 'link' | 'other';
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
}

export type InputSnapshot = { input: GuardedInput; entries: Map<string, EntryState> }[];

/** A difference found after the command. */
export interface InputChange {
  /** Scratch-relative path of the changed entry. */
  path: string;
  what: string;
}

export async function snapshotInputs(inputs: readonly GuardedInput[]): Promise<InputSnapshot> {
  const snapshot: InputSnapshot = [];
  for (const input of inputs) snapshot.push({ input, entries: await readStates(input.absolute) });
  return snapshot;
}

/**
 * Compares the inputs with their snapshot. For a file of an upstream tree a change of ctime or mode
 * alone is not damage (another stage linking or marking the same object executable changes them),
 * so such a file is rehashed against its digest instead. A dep whose ctime alone moved is
 * unchanged; its size, mtime, inode or mode moving is reported.
 */
export async function findInputChanges(snapshot: InputSnapshot): Promise<InputChange[]> {
  const changes: InputChange[] = [];
  for (const { input, entries } of snapshot) {
    const now = await readStates(input.absolute);
    const shown = (rel: string) => (rel === '' ? input.shown : posix.join(input.shown, rel));
    for (const [rel, before] of entries) {
      const after = now.get(rel);
      if (!after) {
        changes.push({ path: shown(rel), what: 'was deleted' });
        continue;
      }
      // A new hard link to a dep (`ln data/x out/x`) moves only its ctime: content and times are
      // what the key hashed, so that alone is not a change.
      if (!input.tree && onlyMetadata(before, after) && before.mode === after.mode) continue;
      let what = describeDifference(before, after);
      if (what && input.tree && before.kind === 'file' && onlyMetadata(before, after)) {
        const digest = input.tree.files.get(rel);
        const actual = await hashFile(join(input.absolute, rel), after.size).catch(() => undefined);
        if (digest !== undefined && actual === digest) what = undefined;
      }
      if (what) changes.push({ path: shown(rel), what });
    }
    for (const rel of now.keys())
      if (!entries.has(rel)) changes.push({ path: shown(rel), what: 'was created' });
  }
  return changes;
}

/**
 * After a change to upstream outputs: every object that no longer has its digest's content goes
 * to quarantine/ (never served again), and each touched tree folder is removed so it is rebuilt.
 */
export async function quarantineChanged(
  store: CacheStore,
  snapshot: InputSnapshot,
  changes: readonly InputChange[],
): Promise<string[]> {
  const quarantined: string[] = [];
  for (const { input } of snapshot) {
    if (!input.tree) continue;
    const prefix = `${input.shown}/`;
    const touched = changes.filter((c) => c.path === input.shown || c.path.startsWith(prefix));
    if (touched.length === 0) continue;
    for (const [, digest] of input.tree.files) {
      const object = store.layout.object(digest);
      const info = await stat(object).catch(() => undefined);
      if (!info) continue;
      const actual = await hashFile(object, info.size).catch(() => undefined);
      if (actual !== digest && store.quarantineObject(digest)) quarantined.push(digest);
    }
    await rm(input.tree.dir, { recursive: true, force: true });
  }
  return quarantined;
}

function onlyMetadata(a: EntryState, b: EntryState): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

function describeDifference(a: EntryState, b: EntryState): string | undefined {
  if (a.kind !== b.kind) return `was replaced by a ${b.kind === 'dir' ? 'folder' : b.kind}`;
  if (a.ino !== b.ino) return `was replaced (a new ${a.kind === 'dir' ? 'folder' : 'file'} in its place)`;
  // A folder's times move whenever an entry is added or removed; those entries are reported.
  if (a.kind === 'dir')
    return a.mode === b.mode ? undefined : `changed mode (${octal(a.mode)} → ${octal(b.mode)})`;
  if (a.size !== b.size) return `changed size (${a.size} → ${b.size} bytes)`;
  if (a.mtimeMs !== b.mtimeMs) return 'was modified (its modification time changed)';
  if (a.mode !== b.mode) return `changed mode (${octal(a.mode)} → ${octal(b.mode)})`;
  if (a.ctimeMs !== b.ctimeMs) return 'was changed (its status change time moved)';
  return undefined;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * The state of a file or folder and of everything under it, by relative path ('' is the root).
 * Links are followed, as the key's digest follows them in deps (links inside upstream trees stay
 * inside them); a dangling link is recorded as the link itself.
 */
async function readStates(root: string): Promise<Map<string, EntryState>> {
  const states = new Map<string, EntryState>();
  let visited = 0;
  // NOTE: synchronous calls: a join of 1,000 upstream outputs stats each before and after its
  // command, and a round trip through the thread pool for each stat was most of its time. The walk
  // yields now and then, so a big dep folder does not hold up other stages' events.
  const visit = async (rel: string): Promise<void> => {
    if (++visited % YIELD_EVERY === 0) await yieldToEventLoop();
    const absolute = rel === '' ? root : join(root, rel);
    const info = statOrLink(absolute);
    if (!info) return;
    const state = stateOf(info);
    states.set(rel, state);
    if (state.kind !== 'dir') return;
    let names: string[];
    try {
      names = readdirSync(absolute).sort();
    } catch {
      names = [];
    }
    for (const name of names) await visit(rel === '' ? name : `${rel}/${name}`);
  };
  await visit('');
  return states;
}

/** How many entries a walk reads between two yields to the event loop. */
const YIELD_EVERY = 512;

/** What a path leads to; a dangling link as the link itself; undefined when it is gone. */
function statOrLink(absolute: string): Stats | undefined {
  try {
    return statSync(absolute);
  } catch {
    try {
      return lstatSync(absolute);
    } catch {
      return undefined;
    }
  }
}

function stateOf(info: Stats): EntryState {
  const kind = info.isFile() ? 'file' : info.isDirectory() ? 'dir' : info.isSymbolicLink() ? 'link' : 'other';
  return {
    kind,
    size: info.size,
    mtimeMs: info.mtimeMs,
    ctimeMs: info.ctimeMs,
    ino: info.ino,
    mode: info.mode,
  };
}
