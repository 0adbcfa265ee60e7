// Run records and tree manifests this user has read and validated, by path and stat (git's index
// for the files a fully cached run reads). Every served stage used to open, parse and validate its
// record and its manifest: a third of a no-op of 5,000 stages. A file whose (size, mtime, ctime,
// inode) is unchanged since it was validated holds the same bytes (a write changes ctime, which no
// one can set back), so its validated value is taken from here instead.
//
// NOTE: the memo lives in this user's cache folder, never in the cache it describes. A shared cache
// is data anyone who shares it can write (validate.ts); a memo there could vouch for a manifest
// that leads out of the tree. Here only this user's own validation vouches.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { replaceFileSync } from '../util/file-ops.ts';
import { userCacheDir } from '../util/user-cache.ts';
import { RACY_MS, statUnchanged } from './stat-cache.ts';

type Entry = [size: number, mtimeMs: number, ctimeMs: number, ino: number, value: unknown];

// Bump when what is stored for a path, or how it is validated, changes.
const FORMAT = 'validated-v2';
/** Above this many entries on disk, a save keeps only what this process used (the memo never grows without bound). */
const MAX_ENTRIES = 100_000;

export class ValidatedFiles {
  private entries: Record<string, Entry> | undefined;
  private readonly used = new Set<string>();
  private dirty = false;

  /** `file`: where the memo is kept; undefined turns it off. */
  constructor(private readonly file: string | undefined) {}

  /** The memo of the cache at `cacheRoot`, in this user's cache folder ($GPT2O_VALIDATED_CACHE=off: none). */
  static forCache(cacheRoot: string, env: NodeJS.ProcessEnv = process.env): ValidatedFiles {
    const dir = userCacheDir(env, 'GPT2O_VALIDATED_CACHE', 'validated');
    if (dir === undefined) return new ValidatedFiles(undefined);
    const name = createHash('sha256').update(FORMAT).update('\0').update(cacheRoot).digest('hex');
    return new ValidatedFiles(join(dir, `${name.slice(0, 32)}.json`));
  }

  /** The value validated for `path` when its stat has not changed since; never reads the file. */
  get(path: string, stat: Stats): unknown {
    const hit = this.load()[path];
    if (hit && statUnchanged(hit, stat)) {
      this.used.add(path);
      return hit[4];
    }
    return undefined;
  }

  /** Remembers a value just validated from the file at `path`, read with this stat. */
  remember(path: string, stat: Stats, value: unknown): void {
    // As the stat cache: a rewrite within the file system's timestamp tick could keep every field.
    if (!this.file || Date.now() - Math.max(stat.mtimeMs, stat.ctimeMs) <= RACY_MS) return;
    this.load()[path] = [stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino, value];
    this.used.add(path);
    this.dirty = true;
  }

  /** Writes new entries, merged with what other runs saved meanwhile. An accelerator: failures are dropped. */
  save(): void {
    if (!this.dirty || !this.file || !this.entries) return;
    const onDisk = readEntries(this.file);
    const merged =
      Object.keys(onDisk).length > MAX_ENTRIES
        ? Object.fromEntries([...this.used].map((path) => [path, this.entries![path]!]))
        : { ...onDisk, ...this.entries };
    try {
      mkdirSync(join(this.file, '..'), { recursive: true });
      replaceFileSync(this.file, JSON.stringify(merged));
    } catch {
      // an accelerator: dropped
    }
    this.dirty = false;
  }

  private load(): Record<string, Entry> {
    this.entries ??= this.file ? readEntries(this.file) : {};
    return this.entries;
  }
}

function readEntries(file: string): Record<string, Entry> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {};
  } catch {
    return {}; // missing or damaged: start over
  }
}
