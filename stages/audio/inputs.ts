// Which files of an upstream output to resample, and where each one's WAV goes.
import { extname, join } from 'node:path';
import { StageError } from '../../src/stage-api/index.ts';
import { readDownloadListing } from '../contracts/download-manifest.ts';
import { listFolder } from '../lib/files.ts';
import { DECODABLE } from './decode.ts';

export interface PlannedFile {
  /** Path inside the input folder, e.g. audio/sherlock_01_doyle.mp3. */
  source: string;
  sourcePath: string;
  /** Path inside the output folder, e.g. wav/sherlock_01_doyle.wav. */
  output: string;
}

/**
 * Files listed by the input's manifest.json (download's contract, whose reader checks that each
 * path stays inside the input), else every decodable file.
 */
export async function listAudioFiles(inputDir: string): Promise<{ source: string; sourcePath: string }[]> {
  const listed = readDownloadListing(inputDir)?.files.map((f) => f.file);
  const files = listed ?? (await listFolder(inputDir)).map((f) => f.path);
  return files
    .filter((f) => DECODABLE.includes(extname(f).toLowerCase()) || listed !== undefined)
    .sort()
    .map((source) => ({ source, sourcePath: join(inputDir, source) }));
}

/** wav/<path without its first folder and extension>.wav; two sources mapping to one name is an error. */
export function planOutputs(sources: { source: string; sourcePath: string }[]): PlannedFile[] {
  const seen = new Map<string, string>();
  return sources.map(({ source, sourcePath }) => {
    const inner = source.startsWith('audio/') ? source.slice('audio/'.length) : source;
    const output = `wav/${inner.slice(0, inner.length - extname(inner).length)}.wav`;
    const clash = seen.get(output);
    if (clash) {
      throw new StageError(`"${clash}" and "${source}" would both become ${output}`, {
        hint: 'keep one of them (the include: globs of download can filter by extension)',
      });
    }
    seen.set(output, source);
    return { source, sourcePath, output };
  });
}
