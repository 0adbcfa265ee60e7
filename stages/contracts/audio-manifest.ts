// resample → tokenize: `manifest.json` beside `wav/`, listing each chapter's mono WAV with its
// duration and split (train or val), plus the sample rate all of them share and the files left out.
// tokenize reads the rate and each file's path, split and seconds.
import * as v from 'valibot';
import { type JsonContract, pathInside, readContract, writeContract } from './json-contract.ts';

/** One converted chapter. */
export interface AudioFile {
  /** Path inside the output, e.g. wav/sherlock_01.wav. */
  file: string;
  /** The input file it was made from (download's path). */
  source: string;
  split: 'train' | 'val';
  /** Duration of the WAV (rounded to µs). */
  seconds: number;
  source_seconds: number;
  samples: number;
  source_rate: number;
  source_channels: number;
}

/** What resample writes. */
export interface AudioManifest {
  sample_rate: number;
  channels: 1;
  format: 'pcm16' | 'float32';
  quality: 'best' | 'high' | 'fast';
  train_seconds: number;
  val_seconds: number;
  files: AudioFile[];
  /** Files that failed to decode under on_bad_file: skip, with why. */
  skipped: { source: string; error: string }[];
}

const contract = {
  file: 'manifest.json',
  what: 'audio manifest',
  producer: 'resample',
  schema: v.object({
    sample_rate: v.number(),
    files: v.array(
      v.object({ file: pathInside('path'), split: v.picklist(['train', 'val']), seconds: v.number() }),
    ),
  }),
} satisfies JsonContract<v.GenericSchema>;

/** What readers get: the rate, and each file's path (inside the input), split and seconds. */
export type AudioListing = v.InferOutput<typeof contract.schema>;

export function writeAudioManifest(outDir: string, manifest: AudioManifest): Promise<void> {
  return writeContract(outDir, contract, manifest);
}

export function readAudioManifest(inputDir: string): AudioListing {
  return readContract(inputDir, contract);
}
