// Content digests with hash-wasm's XXH128 (about 4.5 GB/s of one core's time, 4x its BLAKE3). The cache is a local
// build cache, not a trust boundary, so a fast 128-bit non-cryptographic hash is the right trade.

import { chmodSync, closeSync, fchmodSync, openSync, readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { IHasher } from 'hash-wasm';
// The single-algorithm build: start-up parses 20 KB instead of hash-wasm's 270 KB index.
import xxhash128 from 'hash-wasm/dist/xxhash128.umd.min.js';

const { createXXHash128 } = xxhash128;

// One instance for all small inputs; created once (keeping the promise, so concurrent first calls
// do not each compile the wasm module).
let shared: Promise<IHasher> | undefined;
const SMALL_FILE = 8 << 20;
// NOTE: reads of 2 MiB, four in flight. A chunk that fits in the CPU's caches is still there when
// it is hashed; 8 MiB chunks, two at a time (the earlier choice), went through memory twice and
// measured 0.5 GB/s on a loaded 2-core machine against 2.3-2.5 GB/s for 2 MiB x 3-4 (same run).
const CHUNK = 2 << 20;
const IN_FLIGHT = 4;

function sharedHasher(): Promise<IHasher> {
  shared ??= createXXHash128();
  return shared;
}

/** Digest of bytes or text (used for keys, manifests and small files). */
export async function hashBytes(data: Uint8Array | string): Promise<string> {
  const hasher = await sharedHasher();
  // init → update → digest run without an await between them, so callers never interleave.
  hasher.init();
  hasher.update(data);
  return hasher.digest('hex');
}

/**
 * Digest of a file's content, streamed so memory stays bounded. The next chunks are read on libuv's
 * thread pool (positional reads, IN_FLIGHT at a time) while this thread hashes the current one, so
 * reading and hashing overlap on two cores. Chunks are hashed strictly in file order. With `mode`,
 * the file's mode is set through the open descriptor once it is read (the store makes an object
 * read-only so: one path lookup less per file of a big tree than a chmod by path).
 */
export async function hashFile(path: string, size?: number, mode?: number): Promise<string> {
  if (size !== undefined && size <= SMALL_FILE) {
    // NOTE: the hasher first, then read and hash with no await between: the bytes are in the one
    // shared buffer, which another hashFile (another stage) would overwrite during an await.
    const hasher = await sharedHasher();
    const whole = readSmallFile(path, size, mode);
    if (whole) {
      hasher.init();
      hasher.update(whole);
      return hasher.digest('hex');
    }
  }
  const hasher = await createXXHash128();
  hasher.init();
  const handle = await open(path, 'r');
  const reads: Promise<number>[] = [];
  try {
    const ring = Array.from({ length: IN_FLIGHT }, () => Buffer.allocUnsafe(CHUNK));
    let next = 0;
    const read = (slot: number) => {
      const position = next;
      next += CHUNK;
      const bytes = handle.read(ring[slot]!, 0, CHUNK, position).then((r) => r.bytesRead);
      // NOTE: a read that fails while an earlier one is awaited must not count as unhandled (Node
      // would exit); the error is thrown where this read is awaited.
      bytes.catch(() => undefined);
      reads.push(bytes);
    };
    for (let slot = 0; slot < IN_FLIGHT; slot++) read(slot);
    for (let slot = 0, position = 0; ; slot = (slot + 1) % IN_FLIGHT, position += CHUNK) {
      const bytesRead = await reads.shift()!;
      if (bytesRead === 0) break;
      const chunk = ring[slot]!;
      hasher.update(bytesRead === CHUNK ? chunk : chunk.subarray(0, bytesRead));
      if (bytesRead < CHUNK) {
        // The end of the file, or a short read: the reads ahead assumed full chunks, so drop them
        // and go on in order from here (at the end this reads nothing).
        await Promise.allSettled(reads.splice(0));
        await readRest(handle, hasher, chunk, position + bytesRead);
        break;
      }
      read(slot);
    }
  } finally {
    await Promise.allSettled(reads);
    if (mode !== undefined) await handle.chmod(mode).catch(() => undefined);
    await handle.close();
  }
  if (mode !== undefined) chmodSync(path, mode); // a failed chmod through the handle says why here
  return hasher.digest('hex');
}

// NOTE: one buffer for every small file, not readFileSync's new one (plus an fstat) per file: a
// tree of 100,000 files of 1 KiB left 100 MB of buffers to the garbage collector, which `verify`
// showed as peak memory. A file over SHARED_MAX (a big tree's manifest) gets a buffer of its own,
// so the shared one never stays that big.
const SHARED_MAX = 1 << 20;
let scratch = Buffer.allocUnsafe(64 << 10);

/**
 * A small file's bytes (a view of the shared buffer, valid until the next call); undefined when it
 * turned out bigger than `size` (it changed meanwhile: the caller streams it). A read that stops
 * short at exactly the size the caller's stat saw is the end of the file (no second read to see
 * 0 bytes: one system call less per file of a big tree).
 */
function readSmallFile(path: string, size: number, mode: number | undefined): Buffer | undefined {
  if (size < SHARED_MAX && scratch.length < size + 1)
    scratch = Buffer.allocUnsafe(Math.min(SHARED_MAX, Math.max(size + 1, scratch.length * 2)));
  const buffer = size < SHARED_MAX ? scratch : Buffer.allocUnsafe(size + 1);
  const fd = openSync(path, 'r');
  try {
    let length = 0;
    for (;;) {
      const asked = buffer.length - length;
      const n = readSync(fd, buffer, length, asked, null);
      length += n;
      if (n === 0 || (length === size && n < asked)) return buffer.subarray(0, length);
      if (length > size) return undefined;
    }
  } finally {
    try {
      if (mode !== undefined) fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
  }
}

/** Hashes the file from `position` to its end, one read at a time. */
async function readRest(handle: FileHandle, hasher: IHasher, buffer: Buffer, position: number) {
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return;
    hasher.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
}
