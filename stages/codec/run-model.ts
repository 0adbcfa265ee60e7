// Runs an ONNX model on feeds we built, and turns onnxruntime's refusal (wrong dims, wrong type, a
// missing input) or failure into a StageError naming the model file, the tensors we gave it and
// the inputs it declares: the cause is the model's contract, not a bug in the stage.
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { StageError } from '../../src/stage-api/index.ts';

type Meta = { name: string; isTensor: boolean; type?: string; shape?: (number | string)[] };

/** The session's declared inputs or outputs (onnxruntime-node ≥ 1.21 exposes types and shapes). */
export function sessionMetadata(
  session: InferenceSession,
  which: 'inputMetadata' | 'outputMetadata',
): Meta[] {
  return (session as unknown as Record<string, Meta[]>)[which] ?? [];
}

export type Batch = number | 'dynamic';

/** A tensor's batch dimension: a number when the model was exported for a fixed batch. */
export function batchOf(m: Meta | undefined): Batch {
  const first = m?.shape?.[0];
  return typeof first === 'number' && first > 0 ? first : 'dynamic';
}

/** The windows per call a model with `batch` takes when `wanted` are asked for. */
export function usableBatch(batch: Batch, wanted: number): number {
  return batch === 'dynamic' ? wanted : batch;
}

export function describeMeta(m: Meta): string {
  return `${m.name} ${m.type ?? '?'} [${(m.shape ?? []).join(', ')}]`;
}

function describeFeeds(feeds: Record<string, Tensor>): string {
  return Object.entries(feeds)
    .map(([name, t]) => `${name} ${t.type} [${t.dims.join(', ')}]`)
    .join(', ');
}

/** `session.run(feeds)`; `file` names the model in the error (e.g. "encoder.onnx"). */
export async function runModel(
  session: InferenceSession,
  file: string,
  feeds: Record<string, Tensor>,
  options?: InferenceSession.RunOptions,
): Promise<InferenceSession.OnnxValueMapType> {
  try {
    return await session.run(feeds, options);
  } catch (cause) {
    const expected = sessionMetadata(session, 'inputMetadata').map(describeMeta).join(', ');
    const reason = (cause as Error).message.split('\n')[0]!.trim();
    throw new StageError(
      `${file} rejected ${describeFeeds(feeds)}: ${reason} (the model declares ${expected || 'no inputs'})`,
      {
        hint: "the codec's models must follow the SNAC ONNX contract (README: the codec stage): float32 input_values [batch, 1, samples] → int64 codes [batch, frames] per level, and back",
        cause,
      },
    );
  }
}
