// Safe zip extraction with yauzl. Every entry name is checked before anything is written (no
// absolute names, ".." segments or backslashes: zip-slip), the declared uncompressed size of what
// will be extracted is checked against the limit up front, and the actual bytes are counted again
// while writing (a zip can lie about sizes). Each entry's CRC-32 is verified, which yauzl leaves to us.
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import yauzl from 'yauzl';
import { StageError } from '../../src/stage-api/index.ts';
import { tooLarge, unsafePath, type WrittenFile, writeHashed } from './files.ts';
import { type Include, selectIncluded } from './include.ts';

export interface ExtractOptions {
  /** Which entries to extract, by their path inside the archive. */
  include: Include;
  /** Most bytes to write in all. */
  maxBytes: number;
  /** The archive as people know it (file name or URL), for errors. */
  name: string;
  signal?: AbortSignal;
  /** Bytes written so far out of the declared total of the selected entries. */
  onBytes?: (done: number, total: number) => void;
}

/** One extracted file, by its path inside the archive. */
export interface ExtractedFile extends WrittenFile {
  path: string;
}

interface NamedEntry {
  path: string;
  entry: yauzl.Entry;
}

/** Extracts the entries of `zipPath` that `include` selects into `destDir`, keeping their paths. */
export async function extractZip(
  zipPath: string,
  destDir: string,
  options: ExtractOptions,
): Promise<ExtractedFile[]> {
  let zip: yauzl.ZipFile;
  try {
    // decodeStrings: false so names reach our own checks (and errors) instead of yauzl's generic ones.
    zip = await yauzl.openPromise(zipPath, {
      decodeStrings: false,
      validateEntrySizes: true,
      autoClose: false,
    });
  } catch (error) {
    throw unreadable(options.name, error);
  }
  try {
    const entries = await listEntries(zip, destDir, options.name);
    const selected = selectIncluded(options.name, options.include, entries);
    const declared = selected.reduce((sum, e) => sum + e.entry.uncompressedSize, 0);
    if (declared > options.maxBytes)
      throw tooLarge(
        `${options.name} (${selected.length} entries, uncompressed)`,
        options.maxBytes,
        declared,
      );

    const files: ExtractedFile[] = [];
    let written = 0;
    for (const { path, entry } of selected) {
      const file = await extractEntry(zip, entry, join(destDir, path), {
        name: `${options.name}: ${path}`,
        maxBytes: options.maxBytes - written,
        signal: options.signal,
        onBytes: (done) => options.onBytes?.(written + done, declared),
      });
      written += file.bytes;
      files.push({ path, ...file });
    }
    return files;
  } finally {
    zip.close();
  }
}

/** Every file entry (directories skipped) with a checked name; throws on the first unsafe one. */
async function listEntries(zip: yauzl.ZipFile, destDir: string, zipName: string): Promise<NamedEntry[]> {
  const entries: NamedEntry[] = [];
  const seen = new Set<string>();
  try {
    for await (const entry of zip.eachEntry()) {
      const path = yauzl.getFileNameLowLevel(
        entry.generalPurposeBitFlag,
        entry.fileNameRaw,
        entry.extraFields,
        true, // strict: keep backslashes, so they are refused below rather than silently rewritten
      );
      const problem = unsafePath(path, destDir);
      if (problem)
        throw new StageError(
          `${zipName} has an entry that would escape the output folder: "${path}" (${problem})`,
          {
            hint: 'the archive is malformed or malicious, so nothing was extracted; get it from a trusted source',
          },
        );
      if (path.endsWith('/')) continue;
      if (seen.has(path))
        throw new StageError(`${zipName} has two entries named "${path}"`, {
          hint: 'the archive is malformed: which copy is meant is unclear; repack it with one entry per path',
        });
      seen.add(path);
      entries.push({ path, entry });
    }
  } catch (error) {
    if (error instanceof StageError) throw error;
    throw unreadable(zipName, error);
  }
  return entries;
}

async function extractEntry(
  zip: yauzl.ZipFile,
  entry: yauzl.Entry,
  dest: string,
  options: { name: string; maxBytes: number; signal?: AbortSignal; onBytes: (done: number) => void },
): Promise<WrittenFile> {
  let crc = 0;
  try {
    const stream = await zip.openReadStreamPromise(entry);
    const file = await writeHashed(stream, dest, {
      ...options,
      onChunk: (chunk) => {
        crc = crc32(chunk, crc);
      },
    });
    if (crc !== entry.crc32) throw new Error(`CRC-32 mismatch (${crc} != ${entry.crc32})`);
    return file;
  } catch (error) {
    // Our own errors, aborts and file-system errors pass through; the rest come from the archive.
    const e = error as { name?: string; syscall?: string };
    if (error instanceof StageError || e.name === 'AbortError' || e.syscall) throw error;
    throw unreadable(options.name, error);
  }
}

function unreadable(name: string, cause: unknown): StageError {
  return new StageError(`${name} is not a readable zip archive: ${(cause as Error)?.message ?? cause}`, {
    hint: 'it is truncated or corrupt: download it again, or check that the source really is a zip',
    cause,
  });
}

// zlib.crc32 exists from Node 20.15; older Node 20 releases get the table-driven version.
let table: Uint32Array | undefined;
function crc32(chunk: Buffer, previous: number): number {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(chunk, previous);
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = ~previous >>> 0;
  for (const byte of chunk) c = table[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
