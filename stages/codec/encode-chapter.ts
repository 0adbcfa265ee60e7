// Encodes one chapter: streams its WAV straight into a batch of windows, runs the encoder on each
// full batch, and keeps, per window, only the frames that cover real audio (the last window's
// zero padding is dropped).
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { StageError } from '../../src/stage-api/index.ts';
import { Int16ToFloat } from '../audio/simd-kernel.ts';
import { WavFormatError } from '../audio/wav-reader.ts';
import { CHUNK_FRAMES, MonoWavStream } from '../audio/wav-stream.ts';
import type { CodecFactsView } from '../contracts/codec-facts.ts';
import type { LevelCodes } from '../tokens/codes.ts';
import { runModel } from './run-model.ts';

type Ort = typeof import('onnxruntime-node');

export interface EncodeOptions {
  ort: Ort;
  session: InferenceSession;
  facts: CodecFactsView;
  /** Encoder outputs ordered coarse to fine (the codes contract's level 0, 1, 2). */
  levelOutputs: string[];
  /** Samples per window, a multiple of facts.pad_multiple (so also of facts.frame_samples). */
  windowSamples: number;
  batchSize: number;
  /** The model was exported for exactly `batchSize` windows: pad a short last batch with silence. */
  fixedBatch: boolean;
  /** Told the seconds of audio done so far in this chapter. */
  onProgress: (seconds: number) => void;
  signal: AbortSignal;
}

export interface EncodedChapter {
  codes: LevelCodes;
  frames: number;
  samples: number;
  /** Wall time spent inside the encoder, for the inference/overhead split. */
  inferenceMs: number;
}

export async function encodeChapter(path: string, o: EncodeOptions): Promise<EncodedChapter> {
  const W = o.windowSamples;
  // With SIMD, the batch lives in the converter's memory and 16-bit samples are read into it directly.
  const simd = Int16ToFloat.create(CHUNK_FRAMES, o.batchSize * W);
  const batch = simd?.out ?? new Float32Array(o.batchSize * W);
  const stream = openWav(path, simd);
  const levels: number[][] = o.levelOutputs.map(() => []);
  const valid: number[] = []; // real samples per window of the current batch
  let samples = 0;
  let inferenceMs = 0;

  const run = async () => {
    o.signal.throwIfAborted();
    const windows = valid.length;
    const rows = o.fixedBatch ? o.batchSize : windows;
    if (rows > windows) batch.fill(0, windows * W, rows * W);
    const started = performance.now();
    const out = await runModel(o.session, 'encoder.onnx', {
      [o.facts.encoder.input]: new o.ort.Tensor('float32', batch.subarray(0, rows * W), [rows, 1, W]),
    });
    inferenceMs += performance.now() - started;
    for (const [k, name] of o.levelOutputs.entries()) {
      const tensor = out[name] as Tensor;
      const row = tensor.dims[1]!;
      const data = tensor.data as BigInt64Array;
      const perCoarse = 2 ** k; // 1, 2, 4 codes per coarse frame
      for (let b = 0; b < windows; b++) {
        const keep = Math.ceil(valid[b]! / o.facts.frame_samples) * perCoarse;
        for (let i = 0; i < keep; i++) levels[k]!.push(Number(data[b * row + i]));
      }
    }
    valid.length = 0;
  };

  try {
    for (;;) {
      const at = valid.length * W;
      const got = stream.read(batch, at, W);
      if (got === 0) break;
      if (got < W) batch.fill(0, at + got, at + W); // the last window: zero padding
      valid.push(got);
      samples += got;
      if (valid.length === o.batchSize) {
        await run();
        o.onProgress(samples / o.facts.sample_rate);
      }
      if (got < W) break;
    }
    if (valid.length > 0) await run();
  } finally {
    stream.close();
  }
  o.onProgress(samples / o.facts.sample_rate);
  const codes: LevelCodes = { levels: levels.map((l) => Uint16Array.from(l)) as LevelCodes['levels'] };
  return { codes, frames: codes.levels[0].length, samples, inferenceMs };
}

/** The chapter's WAV as a mono stream; a malformed one is the user's input error naming it. */
function openWav(path: string, simd: Int16ToFloat | null): MonoWavStream {
  try {
    return new MonoWavStream(path, simd);
  } catch (error) {
    if (!(error instanceof WavFormatError)) throw error;
    throw new StageError(error.message, {
      hint: 'tokenize reads the mono 16-bit or float32 WAVs that resample writes',
    });
  }
}
