// Encodes one chapter: streams its WAV in windows, runs the encoder on batches of windows and
// keeps, per window, only the frames that cover real audio (the last window's padding is dropped).
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { readWav } from '../audio/wav-reader.ts';
import type { LevelCodes } from '../tokens/codes.ts';
import type { CodecFacts } from './probe.ts';
import { type Window, Windower } from './windows.ts';

type Ort = typeof import('onnxruntime-node');

export interface EncodeOptions {
  ort: Ort;
  session: InferenceSession;
  facts: CodecFacts;
  /** Encoder outputs ordered coarse to fine (the codes contract's level 0, 1, 2). */
  levelOutputs: string[];
  windowSamples: number;
  batchSize: number;
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
  const windower = new Windower(o.windowSamples);
  const perCoarse = o.levelOutputs.map((_, k) => 2 ** k); // 1, 2, 4 codes per coarse frame
  const levels: number[][] = o.levelOutputs.map(() => []);
  let samples = 0;
  let inferenceMs = 0;
  let pending: Window[] = [];

  const flush = async () => {
    if (pending.length === 0) return;
    o.signal.throwIfAborted();
    const batch = new Float32Array(pending.length * o.windowSamples);
    pending.forEach((w, b) => {
      batch.set(w.samples, b * o.windowSamples);
    });
    const started = performance.now();
    const out = await o.session.run({
      [o.facts.encoder.input]: new o.ort.Tensor('float32', batch, [pending.length, 1, o.windowSamples]),
    });
    inferenceMs += performance.now() - started;
    for (const [k, name] of o.levelOutputs.entries()) {
      const tensor = out[name] as Tensor;
      const row = tensor.dims[1]!;
      const data = tensor.data as BigInt64Array;
      pending.forEach((w, b) => {
        const keep = Math.ceil(w.valid / o.facts.pad_multiple) * perCoarse[k]!;
        for (let i = 0; i < keep; i++) levels[k]!.push(Number(data[b * row + i]));
      });
    }
    pending = [];
  };

  for (const chunk of readWav(path)) {
    const mono = chunk.channels[0]!;
    samples += mono.length;
    for (const window of windower.push(mono)) {
      pending.push(window);
      if (pending.length === o.batchSize) await flush();
    }
    o.onProgress(samples / o.facts.sample_rate);
  }
  const last = windower.finish();
  if (last) pending.push(last);
  await flush();
  const codes: LevelCodes = { levels: levels.map((l) => Uint16Array.from(l)) as LevelCodes['levels'] };
  return { codes, frames: codes.levels[0].length, samples, inferenceMs };
}
