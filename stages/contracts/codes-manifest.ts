// tokenize → shard: `manifest.json` beside `codes/<chapter>/level{0,1,2}.npy` (the .npy files are
// tokens/codes-files.ts's), listing the chapters in order with their split, frames and seconds, plus
// the codec facts the token layout needs (codebook size, sample rate, hop length).
import * as v from 'valibot';
import {
  countInt,
  type JsonContract,
  pathInside,
  positiveInt,
  readContract,
  writeContract,
} from './json-contract.ts';

const chapter = v.object({
  /** Folder inside the output, e.g. codes/sherlock_01. */
  dir: pathInside('folder'),
  split: v.picklist(['train', 'val']),
  frames: countInt,
  seconds: v.number(),
});

const contract = {
  file: 'manifest.json',
  what: 'codes manifest',
  producer: 'tokenize',
  schema: v.object({
    codebook_size: positiveInt,
    sample_rate: v.number(),
    hop_length: v.number(),
    chapters: v.array(chapter),
  }),
} satisfies JsonContract<v.GenericSchema>;

/** What shard reads: the codec facts, and each chapter's folder (inside the input), split, frames, seconds. */
export type CodesListing = v.InferOutput<typeof contract.schema>;
/** One chapter as read. */
export type CodesChapterView = CodesListing['chapters'][number];

/** One chapter as tokenize writes it. */
export interface CodesChapter extends CodesChapterView {
  /** The WAV it came from (resample's file). */
  source: string;
}

/** What tokenize writes. */
export interface CodesManifest extends Omit<CodesListing, 'chapters'> {
  chapters: CodesChapter[];
}

export function writeCodesManifest(outDir: string, manifest: CodesManifest): Promise<void> {
  return writeContract(outDir, contract, manifest);
}

export function readCodesManifest(inputDir: string): CodesListing {
  return readContract(inputDir, contract);
}
