// download → resample: `manifest.json` beside `audio/`, listing each fetched file (sorted by path)
// with its size, SHA-256 and where it came from. resample reads only the paths; a cmd stage can
// stand in for download by writing `{"files": [{"file": "audio/a.mp3"}]}`.
import * as v from 'valibot';
import { type JsonContract, pathInside, readOptionalContract, writeContract } from './json-contract.ts';

/** One fetched file. */
export interface DownloadedFile {
  /** Path inside the output, e.g. audio/sherlock_01.mp3. */
  file: string;
  bytes: number;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
  /** Where it came from: the URL, or the local path (relative to the project when it was given so). */
  url: string;
}

/** What download writes. */
export interface DownloadManifest {
  /** The stage's `source:` as written. */
  source: string;
  files: DownloadedFile[];
}

const contract = {
  file: 'manifest.json',
  what: 'download manifest',
  producer: 'download',
  schema: v.object({ files: v.array(v.object({ file: pathInside('path') })) }),
} satisfies JsonContract<v.GenericSchema>;

/** What readers get: the listed paths, each checked to stay inside the input. */
export type DownloadListing = v.InferOutput<typeof contract.schema>;

export function writeDownloadManifest(outDir: string, manifest: DownloadManifest): Promise<void> {
  return writeContract(outDir, contract, manifest);
}

/** The listing of an input folder, or undefined when it has no manifest.json (then every file counts). */
export function readDownloadListing(inputDir: string): DownloadListing | undefined {
  return readOptionalContract(inputDir, contract);
}
