// The large random file that sections 2 and 3 hash. Writing 1 GiB of random bytes takes seconds, so
// it lives in os.tmpdir() under a fixed name and is reused by later runs when its size is right
// (delete it by hand to reclaim the space; `--small` uses a separate 256 MiB file).
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHUNK = 16 << 20;

/** Bytes as whole MiB (division, not `>> 20`, which overflows past 2 GiB). */
export function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/** Path of the cached random file of `bytes` bytes, created if missing or of the wrong size. */
export function ensureBigFile(bytes: number, log: (line: string) => void): string {
  const path = join(tmpdir(), `gpt2o-pipe-bench-${mib(bytes)}MiB.bin`);
  if (sizeOf(path) === bytes) return path;
  log(`writing ${mib(bytes)} MiB of random bytes to ${path} (kept for later runs)`);
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (let written = 0; written < bytes; written += CHUNK) {
      const n = Math.min(CHUNK, bytes - written);
      randomFillSync(buffer, 0, n);
      writeSync(fd, buffer, 0, n);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path); // atomic: an interrupted run never leaves a short file under the real name
  return path;
}

/** Reads the whole file once so later timings measure hashing from page cache, not the disk. */
export function warmPageCache(path: string): void {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    while (readSync(fd, buffer, 0, CHUNK, null) > 0) {
      // discard: reading is the point
    }
  } finally {
    closeSync(fd);
  }
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}
