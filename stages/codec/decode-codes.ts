// Codes → audio through the codec's decoder (onnxruntime-node), the inverse of encode-chapter:
// decoder input k takes the level whose stride matches encoder output k (coarse level 0 has the
// largest stride). One call per sample; samples are short (seconds), so no chunking.
import { StageError } from '../../src/stage-api/index.ts';
import type { LevelCodes } from '../tokens/codes.ts';
import type { CodecFacts } from './probe.ts';

export async function decodeCodes(
  decoderPath: string,
  facts: CodecFacts,
  codes: LevelCodes,
): Promise<Float32Array> {
  const frames = codes.levels[0].length;
  if (frames === 0) return new Float32Array(0);
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(decoderPath, { logSeverityLevel: 3 });
  try {
    const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
    facts.decoder.inputs.forEach((name, k) => {
      const level = facts.strides.filter((s) => s > facts.strides[k]!).length as 0 | 1 | 2;
      const values = codes.levels[level];
      feeds[name] = new ort.Tensor(
        'int64',
        BigInt64Array.from(values, (c) => BigInt(c)),
        [1, values.length],
      );
    });
    let output: import('onnxruntime-node').Tensor;
    try {
      output = (await session.run(feeds))[facts.decoder.output] as import('onnxruntime-node').Tensor;
    } catch (cause) {
      throw new StageError(`codec decoder failed on ${frames} frames of codes: ${(cause as Error).message}`, {
        cause,
      });
    }
    return Float32Array.from(output.data as Float32Array);
  } finally {
    await session.release();
  }
}
