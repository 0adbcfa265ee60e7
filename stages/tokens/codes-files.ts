// The codes files between `tokenize` and `shard`: a folder `codes/<chapter>/` per chapter with
// level0.npy, level1.npy and level2.npy (uint16, lengths in the ratio 1:2:4, so NumPy can read
// them too). The manifest.json listing the chapters is contracts/codes-manifest.ts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { StageError } from '../../src/stage-api/index.ts';
import type { CodesChapterView } from '../contracts/codes-manifest.ts';
import { frameCount, type LevelCodes } from './codes.ts';
import { writeNpy } from './npy.ts';
import { readNpyUint16 } from './npy-read.ts';

export function writeChapterCodes(outDir: string, dir: string, codes: LevelCodes): void {
  frameCount(codes);
  mkdirSync(join(outDir, dir), { recursive: true });
  for (const [k, level] of codes.levels.entries()) writeNpy(join(outDir, dir, `level${k}.npy`), level);
}

/** One chapter's codes, as listed by the codes manifest (which checked that its folder is inside the input). */
export function readChapterCodes(inputDir: string, chapter: CodesChapterView): LevelCodes {
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
