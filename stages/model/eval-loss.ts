// Validation loss over a token stream, the protocol scripts/torch_gpt2.py implements too (the
// cross-check depends on it): non-overlapping windows of T inputs, x = S[wT : wT+T] and
// y = S[wT+1 : wT+T+1], the last window shorter; the loss is the token-weighted mean over every
// predicted position. Also the loss of each target by its place in a frame. The model is a
// function from windows to per-target losses: the tfjs Gpt (gptTokenLosses) or ONNX Runtime's
// forward-only graph (onnx/ort-model.ts).
import type { Gpt } from './gpt.ts';

/** The loss of each target [B·T] (row-major) predicting targets from ids, both B rows of T. */
export type TokenLosses = (
  ids: Int32Array,
  targets: Int32Array,
  B: number,
  T: number,
) => Promise<Float32Array>;

/** The tfjs model's per-target losses. */
export function gptTokenLosses(model: Gpt): TokenLosses {
  return async (ids, targets, B, T) => {
    const values = model.tf.tidy(() => model.ops.tokenLosses(model.forward(ids, B, T), targets));
    const data = values.dataSync() as Float32Array;
    values.dispose();
    return data;
  };
}

export interface StreamLoss {
  /** Per target token (stream index j+1 predicted from S[..j]), in stream order. */
  losses: Float32Array;
  windows: number;
}

export async function streamLosses(
  model: TokenLosses,
  stream: Uint16Array,
  T: number,
  batch: number,
  signal?: AbortSignal,
  onProgress?: (done: number, total: number) => void,
): Promise<StreamLoss> {
  const predicted = Math.max(0, stream.length - 1);
  const losses = new Float32Array(predicted);
  const starts: number[] = [];
  for (let start = 0; start < predicted; start += T) starts.push(start);
  // Full-length windows go in batches; a shorter last window goes alone.
  const full = starts.filter((s) => s + T <= predicted);
  const tail = starts.filter((s) => s + T > predicted);
  const run = async (group: number[], length: number) => {
    const ids = new Int32Array(group.length * length);
    const targets = new Int32Array(group.length * length);
    group.forEach((start, b) => {
      for (let t = 0; t < length; t++) {
        ids[b * length + t] = stream[start + t]!;
        targets[b * length + t] = stream[start + t + 1]!;
      }
    });
    const data = await model(ids, targets, group.length, length);
    for (const [b, start] of group.entries()) losses.set(data.subarray(b * length, (b + 1) * length), start);
  };
  for (let i = 0; i < full.length; i += batch) {
    if (signal?.aborted) throw new Error('interrupted');
    await run(full.slice(i, i + batch), T);
    onProgress?.(Math.min(full.length, i + batch), starts.length);
    // Let progress events and Ctrl-C through (a stage runs on the CLI's event loop).
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (const start of tail) await run([start], predicted - start);
  return { losses, windows: starts.length };
}

/** Token-weighted mean in float64. */
export function meanOf(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return values.length ? sum / values.length : Number.NaN;
}
