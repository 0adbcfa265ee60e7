// Remembers (path, size, mtime, ctime, inode) → digest so unchanged large inputs are not rehashed
// (git's index does the same). Entries for files modified in the last few seconds are not kept,
// because a same-size rewrite within the filesystem's timestamp granularity would go unnoticed.
import { readFileSync, renameSync, type Stats, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashFile } from './hash.ts';

type Entry = [size: number, mtimeMs: number, ctimeMs: number, ino: number, digest: string];
const RACY_MS = 2000;

export class StatCache {
  private entries: Record<string, Entry> | undefined;
  private dirty = false;

  constructor(private readonly file: string) {}

  /** Digest of a file, from the stat cache when its stat matches, else hashed and remembered. */
  async digest(path: string, stat: Stats): Promise<string> {
    const entries = this.load();
    const hit = entries[path];
    if (hit && hit[0] === stat.size && hit[1] === stat.mtimeMs && hit[2] === stat.ctimeMs && hit[3] === stat.ino) return hit[4];
    const digest = await hashFile(path, stat.size);
    if (Date.now() - Math.max(stat.mtimeMs, stat.ctimeMs) > RACY_MS) {
      entries[path] = [stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino, digest];
      this.dirty = true;
    }
    return digest;
  }

  /** Writes new entries, merged with what concurrent runs saved meanwhile (last writer wins per path). */
  save(tmpDir: string): void {
    if (!this.dirty || !this.entries) return;
    const merged = { ...readEntries(this.file), ...this.entries };
    const tmp = join(tmpDir, `${process.pid}-stat-cache-${Date.now()}.json`);
    writeFileSync(tmp, JSON.stringify(merged));
    renameSync(tmp, this.file);
    this.dirty = false;
  }

  private load(): Record<string, Entry> {
    this.entries ??= readEntries(this.file);
    return this.entries;
  }
}

function readEntries(file: string): Record<string, Entry> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8'));
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {}; // missing or damaged: it is only an accelerator, start over
  }
}
