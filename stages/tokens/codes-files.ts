// The contract between `tokenize` and `shard`: a folder `codes/<chapter>/` per chapter with
// level0.npy, level1.npy and level2.npy (uint16, lengths in the ratio 1:2:4, so NumPy can read
// them too), and manifest.json listing the chapters in order with their split, frames and seconds,
// plus the codec facts (codebook size, sample rate, hop length).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StageError } from '../../src/stage-api/index.ts';
import { unsafePath } from '../lib/files.ts';
import { frameCount, type LevelCodes } from './codes.ts';
import { writeNpy } from './npy.ts';
import { readNpyUint16 } from './npy-read.ts';

export interface CodesChapter {
  /** Folder inside the output, e.g. codes/sherlock_01. */
  dir: string;
  /** The WAV it came from (resample's file). */
  source: string;
  split: 'train' | 'val';
  frames: number;
  seconds: number;
}

export interface CodesManifest {
  codebook_size: number;
  sample_rate: number;
  hop_length: number;
  chapters: CodesChapter[];
}

export function writeChapterCodes(outDir: string, dir: string, codes: LevelCodes): void {
  frameCount(codes);
  mkdirSync(join(outDir, dir), { recursive: true });
  for (const [k, level] of codes.levels.entries()) writeNpy(join(outDir, dir, `level${k}.npy`), level);
}

export function readChapterCodes(inputDir: string, chapter: CodesChapter): LevelCodes {
  // The manifest is data from upstream: a chapter folder must stay inside the input.
  const problem = typeof chapter.dir === 'string' ? unsafePath(chapter.dir, inputDir) : 'not a string';
  if (problem) {
    throw new StageError(
      `manifest.json of the codes lists chapter ${JSON.stringify(chapter.dir)}, which is not a folder inside it (${problem})`,
    );
  }
  const levels = [0, 1, 2].map((k) =>
    readNpyUint16(join(inputDir, chapter.dir, `level${k}.npy`)),
  ) as LevelCodes['levels'];
  const codes = { levels };
  const [c0, c1, c2] = levels;
  if (c1.length !== 2 * c0.length || c2.length !== 4 * c0.length) {
    throw new StageError(
      `${chapter.dir}: level0/1/2.npy must hold 1:2:4 codes per frame, they hold ${c0.length}, ${c1.length}, ${c2.length}`,
    );
  }
  const frames = frameCount(codes);
  if (frames !== chapter.frames) {
    throw new StageError(
      `${chapter.dir}: the manifest says ${chapter.frames} frames, the files hold ${frames}`,
    );
  }
  return codes;
}

export function readCodesManifest(inputDir: string): CodesManifest {
  let manifest: CodesManifest;
  try {
    manifest = JSON.parse(readFileSync(join(inputDir, 'manifest.json'), 'utf8')) as CodesManifest;
  } catch (cause) {
    throw new StageError('the input has no readable manifest.json of codes', {
      hint: 'shard reads the output of tokenize (codes/<chapter>/level{0,1,2}.npy and manifest.json)',
      cause,
    });
  }
  if (!Array.isArray(manifest.chapters) || !(manifest.codebook_size > 0)) {
    throw new StageError('manifest.json of the codes lacks chapters or codebook_size');
  }
  return manifest;
}
