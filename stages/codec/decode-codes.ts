// Codes → audio through the codec's decoder (onnxruntime-node), the inverse of encode-chapter:
// decoder input k takes the level whose stride matches encoder output k (coarse level 0 has the
// largest stride). One call per sample; samples are short (seconds), so no chunking. Each call
// opens a session of its own: a seeded random op (random-ops.ts) then draws the same numbers
// whatever was decoded before, so a sample's audio depends only on its codes and the seed.
import type { Tensor } from 'onnxruntime-node';
import type { CodecFactsView } from '../contracts/codec-facts.ts';
import type { LevelCodes } from '../tokens/codes.ts';
import { runModel } from './run-model.ts';

/** `decoder`: the model's bytes (seeded); `file`: its name for errors. */
export async function decodeCodes(
  decoder: Uint8Array,
  file: string,
  facts: CodecFactsView,
  codes: LevelCodes,
): Promise<Float32Array> {
  const frames = codes.levels[0].length;
  if (frames === 0) return new Float32Array(0);
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(decoder, { logSeverityLevel: 3 });
  try {
    const feeds: Record<string, Tensor> = {};
    facts.decoder.inputs.forEach((name, k) => {
      const level = facts.strides.filter((s) => s > facts.strides[k]!).length as 0 | 1 | 2;
      const values = codes.levels[level];
      feeds[name] = new ort.Tensor(
        'int64',
        BigInt64Array.from(values, (c) => BigInt(c)),
        [1, values.length],
      );
    });
    const output = (await runModel(session, file, feeds))[facts.decoder.output] as Tensor;
    return Float32Array.from(output.data as Float32Array);
  } finally {
    await session.release();
  }
}
