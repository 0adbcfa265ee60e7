// Files on disk for the download stages: one pass that writes (awaiting each write, so a fast source
// never outruns the disk), hashes with SHA-256 and enforces a byte limit; the size-limit error; the
// path checks that keep archive and listing names inside the output folder; folder listing.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { formatBytes, StageError } from '../../src/stage-api/index.ts';

/** What was written: its size and hex SHA-256. */
export interface WrittenFile {
  bytes: number;
  sha256: string;
}

export interface WriteOptions {
  /** Most bytes this file may have; more is an error naming `name`. */
  maxBytes: number;
  /** Shown in errors (the path inside the source). */
  name: string;
  signal?: AbortSignal;
  /** Called after each chunk lands on disk, with the bytes written so far. */
  onBytes?: (done: number) => void;
  /** Sees every chunk before it is written (e.g. a CRC-32 check). */
  onChunk?: (chunk: Buffer) => void;
}

/** Streams `chunks` into a new file at `dest` (parents created), hashing and counting on the way. */
export async function writeHashed(
  chunks: AsyncIterable<Buffer>,
  dest: string,
  options: WriteOptions,
): Promise<WrittenFile> {
  await mkdir(dirname(dest), { recursive: true });
  const hash = createHash('sha256');
  const file = await open(dest, 'w');
  let bytes = 0;
  try {
    for await (const chunk of chunks) {
      options.signal?.throwIfAborted();
      bytes += chunk.length;
      if (bytes > options.maxBytes) throw tooLarge(options.name, options.maxBytes);
      options.onChunk?.(chunk);
      hash.update(chunk);
      await file.write(chunk);
      options.onBytes?.(bytes);
    }
  } finally {
    await file.close();
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Feeds the first `bytes` of `path` into `hash`, so a resumed download hashes the whole file. */
export async function hashPrefix(path: string, bytes: number, hash: Hash): Promise<void> {
  if (bytes === 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 }))
    hash.update(chunk as Buffer);
}

/** True when the file starts like a zip archive (a local file header, or an empty archive). */
export async function looksLikeZip(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(4), 0, 4, 0);
    const magic = buffer.subarray(0, bytesRead).toString('latin1');
    return magic === 'PK\x03\x04' || magic === 'PK\x05\x06';
  } finally {
    await file.close();
  }
}

/** The error for a file or archive over the byte limit (`max_bytes`). */
export function tooLarge(name: string, limit: number, declared?: number): StageError {
  const size = declared === undefined ? 'more than' : `${formatBytes(declared)}, more than`;
  return new StageError(`${name} is ${size} the ${formatBytes(limit)} left under max_bytes`, {
    hint: 'raise max_bytes: if the source really is this large, or narrow include:',
  });
}

/** Why a relative path from an archive or a listing is unsafe to write under `root` (zip-slip), or undefined. */
export function unsafePath(path: string, root: string): string | undefined {
  if (path.includes('\\')) return 'backslash in the name';
  if (path.includes('\0')) return 'NUL byte in the name';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'absolute path';
  if (path.split('/').includes('..')) return '".." segment';
  if (path.replace(/\/+$/, '') === '' || !resolve(root, path).startsWith(resolve(root) + sep))
    return 'outside the folder';
  return undefined;
}

/** Regular files under `root` (and symlinks to files; linked folders are not followed), POSIX paths. */
export async function listFolder(root: string, prefix = ''): Promise<{ path: string; size: number }[]> {
  const found: { path: string; size: number }[] = [];
  const entries = await readdir(join(root, prefix), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) found.push(...(await listFolder(root, rel)));
    else if (entry.isFile() || entry.isSymbolicLink()) {
      const info = await stat(join(root, rel)).catch(() => undefined);
      if (info?.isFile()) found.push({ path: rel, size: info.size });
    }
  }
  return found;
}
