// Content digests with hash-wasm's XXH128 (5+ GB/s streamed here, 4x its BLAKE3). The cache is a local
// build cache, not a trust boundary, so a fast 128-bit non-cryptographic hash is the right trade.

import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IHasher } from 'hash-wasm';
// The single-algorithm build: start-up parses 20 KB instead of hash-wasm's 270 KB index.
import xxhash128 from 'hash-wasm/dist/xxhash128.umd.min.js';

const { createXXHash128 } = xxhash128;

// One instance for all small inputs; created once (keeping the promise, so concurrent first calls
// do not each compile the wasm module).
let shared: Promise<IHasher> | undefined;
const SMALL_FILE = 8 << 20;
// 8 MiB reads measured fastest here (1 MiB: 3.7-4.0 GB/s, 8 MiB: 5.4, 16 MiB: 4.7-5.2).
const CHUNK = 8 << 20;

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
 * Digest of a file's content, streamed so memory stays bounded. Reads are double-buffered: the next
 * chunk is read on libuv's thread pool while this thread hashes the current one, so reading and
 * hashing overlap on two cores (2.8 GB/s sequential → 5.4 GB/s overlapped on a 1 GiB file here).
 */
export async function hashFile(path: string, size?: number): Promise<string> {
  if (size !== undefined && size <= SMALL_FILE) return hashBytes(readFileSync(path));
  const hasher = await createXXHash128();
  hasher.init();
  const handle = await open(path, 'r');
  try {
    const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let current = 0;
    let pending = handle.read(buffers[0]!, 0, CHUNK, null);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const filled = buffers[current]!;
      current ^= 1;
      pending = handle.read(buffers[current]!, 0, CHUNK, null);
      hasher.update(bytesRead === CHUNK ? filled : filled.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hasher.digest('hex');
}
