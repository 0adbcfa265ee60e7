// The model's building blocks as tfjs ops with hand-written gradients. Two reasons:
// - Speed on the wasm backend: its MatMul is fast (XNNPACK) only for plain, untransposed, 2-D
//   products; a transposed or batched product runs 10-20x slower, and autodiff's gradient of
//   matMul is transposed products. Here every product is a plain 2-D matMul of explicitly
//   transposed operands.
// - Coverage: wasm has no UnsortedSegmentSum, the gradient of gather (the embedding lookup).
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs';
import type { Tf } from './backend.ts';

const GELU_K = Math.sqrt(2 / Math.PI);
const LN_EPS = 1e-5;

export type Ops = ReturnType<typeof makeOps>;

type Save = (tensors: Tensor[]) => void;
type GradResult = { value: Tensor; gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor | Tensor[] };

// NOTE: one long function on purpose (218 lines): every op is a closure over the same `tf`, and the
// body reads as the model's list of ops, each with its gradient beside it; split up, each piece
// would need tf passed in and the Ops type stitched back together.
export function makeOps(tf: Tf) {
  // tf.customGrad with its arguments typed (its own signature lumps tensors and `save` together).
  const custom = <A extends Tensor[]>(f: (...args: [...A, Save]) => GradResult) =>
    tf.customGrad(f as never) as unknown as (...args: A) => Tensor;
  const t2 = (x: Tensor): Tensor2D => tf.transpose(x as Tensor2D);

  /** x [N, in] @ w [in, out] + b [out] (HF Conv1D layout). */
  const linear = custom((x: Tensor, w: Tensor, b: Tensor, save: Save) => {
    save([x, w]);
    return {
      value: tf.add(tf.matMul(x as Tensor2D, w as Tensor2D), b),
      gradFunc: (dy, [sx, sw]) => [
        tf.matMul(dy as Tensor2D, t2(sw!)), // dx = dy @ wᵀ
        tf.matMul(t2(sx!), dy as Tensor2D), // dw = xᵀ @ dy
        tf.sum(dy, 0), // db
      ],
    };
  }) as (x: Tensor2D, w: Tensor2D, b: Tensor1D) => Tensor2D;

  /** Logits x [N, C] @ wteᵀ [C, V], the lm_head tied to the token embedding. */
  const tiedHead = custom((x: Tensor, wte: Tensor, save: Save) => {
    save([x, wte]);
    return {
      value: tf.matMul(x as Tensor2D, t2(wte)),
      gradFunc: (dy, [sx, swte]) => [
        tf.matMul(dy as Tensor2D, swte as Tensor2D), // dx = dy @ wte
        t2(tf.matMul(t2(sx!), dy as Tensor2D)), // dwte = (xᵀ @ dy)ᵀ: transposes the small side
      ],
    };
  }) as (x: Tensor2D, wte: Tensor2D) => Tensor2D;

  /** Rows of `table` [V, C] at `ids`; the gradient is a scatter-add done on the host. */
  function embed(table: Tensor2D, ids: Int32Array): Tensor2D {
    const [rows, width] = table.shape;
    const lookup = custom((t: Tensor, _save: Save) => {
      const index = tf.tensor1d(ids, 'int32');
      const value = tf.gather(t as Tensor2D, index);
      index.dispose();
      return {
        value,
        gradFunc: (dy) => {
          const g = dy.dataSync() as Float32Array;
          const out = new Float32Array(rows * width);
          for (let i = 0; i < ids.length; i++) {
            const row = ids[i]! * width;
            const src = i * width;
            for (let c = 0; c < width; c++) out[row + c]! += g[src + c]!;
          }
          return tf.tensor2d(out, [rows, width]);
        },
      };
    });
    return lookup(table) as Tensor2D;
  }

  /** LayerNorm over the last axis of x [N, C]. */
  const layerNorm = custom((x: Tensor, g: Tensor, b: Tensor, save: Save) => {
    const { mean, variance } = tf.moments(x, -1, true);
    const rstd = tf.rsqrt(tf.add(variance, LN_EPS));
    const xhat = tf.mul(tf.sub(x, mean), rstd);
    save([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy, [sxhat, srstd, sg]) => {
        const dxhat = tf.mul(dy, sg!);
        const meanD = tf.mean(dxhat, -1, true);
        const meanDX = tf.mean(tf.mul(dxhat, sxhat!), -1, true);
        const dx = tf.mul(srstd!, tf.sub(tf.sub(dxhat, meanD), tf.mul(sxhat!, meanDX)));
        return [dx, tf.sum(tf.mul(dy, sxhat!), 0), tf.sum(dy, 0)];
      },
    };
  }) as (x: Tensor2D, g: Tensor1D, b: Tensor1D) => Tensor2D;

  /** GELU, tanh approximation (GPT-2's "gelu_new"). */
  const gelu = custom((x: Tensor, save: Save) => {
    const x3 = tf.mul(tf.mul(x, x), x);
    const t = tf.tanh(tf.mul(tf.add(x, tf.mul(x3, 0.044715)), GELU_K));
    save([x, t]);
    return {
      value: tf.mul(tf.mul(x, 0.5), tf.add(t, 1)),
      gradFunc: (dy, [sx, st]) => {
        const x = sx!;
        const t = st!;
        // d/dx = ½(1+t) + ½x(1−t²)·k(1+3·0.044715x²)
        const inner = tf.mul(tf.add(tf.mul(tf.mul(x, x), 3 * 0.044715), 1), GELU_K);
        const sech2 = tf.sub(1, tf.mul(t, t));
        const d = tf.add(tf.mul(tf.add(t, 1), 0.5), tf.mul(tf.mul(tf.mul(x, 0.5), sech2), inner));
        return tf.mul(dy, d);
      },
    };
  }) as (x: Tensor2D) => Tensor2D;

  /**
   * Causal self-attention straight from the fused projection qkv [B·T, 3C] (columns: q, k, v, each
   * head's hs columns in order) to y [B·T, C] (heads side by side, as c_proj expects). Every head of
   * every row is its own 2-D problem — slices of hs columns, plain products, a [T, T] softmax — so
   * nothing of size T×T is ever stacked or split, and no 4-D transposes are needed.
   */
  function causalSelfAttention(qkv: Tensor2D, B: number, T: number, nHead: number): Tensor2D {
    const C = qkv.shape[1] / 3;
    const hs = C / nHead;
    const scale = 1 / Math.sqrt(hs);
    const attend = custom((qkv: Tensor, save: Save) => {
      const mask = causalMask(T);
      const saved: Tensor[] = [];
      const rows: Tensor[] = [];
      for (let b = 0; b < B; b++) {
        const x = B === 1 ? qkv : tf.slice(qkv, [b * T, 0], [T, 3 * C]);
        const heads: Tensor[] = [];
        for (let h = 0; h < nHead; h++) {
          const q = tf.slice(x, [0, h * hs], [T, hs]) as Tensor2D;
          const k = tf.slice(x, [0, C + h * hs], [T, hs]) as Tensor2D;
          const v = tf.slice(x, [0, 2 * C + h * hs], [T, hs]) as Tensor2D;
          const scores = tf.matMul(q, tf.transpose(k) as Tensor2D);
          const p = tf.softmax(tf.add(tf.mul(scores, scale), mask)) as Tensor2D;
          heads.push(tf.matMul(p, v));
          saved.push(q, k, v, p);
        }
        rows.push(nHead === 1 ? heads[0]! : tf.concat(heads, 1));
      }
      save(saved);
      return {
        value: B === 1 ? rows[0]! : tf.concat(rows, 0),
        gradFunc: (dy, s) => {
          const grads: Tensor[] = [];
          for (let b = 0; b < B; b++) {
            const dq: Tensor[] = [];
            const dk: Tensor[] = [];
            const dv: Tensor[] = [];
            for (let h = 0; h < nHead; h++) {
              const [q, k, v, p] = s.slice((b * nHead + h) * 4, (b * nHead + h + 1) * 4) as Tensor2D[];
              const d = tf.slice(dy, [b * T, h * hs], [T, hs]) as Tensor2D;
              dv.push(tf.matMul(tf.transpose(p!) as Tensor2D, d)); // pᵀ @ dy
              const dp = tf.matMul(d, tf.transpose(v!) as Tensor2D); // dy @ vᵀ
              // softmax backward: ds = p ⊙ (dp − Σ dp⊙p), then the scale
              const ds = tf.mul(tf.mul(p!, tf.sub(dp, tf.sum(tf.mul(dp, p!), -1, true))), scale) as Tensor2D;
              dq.push(tf.matMul(ds, k!));
              dk.push(tf.matMul(tf.transpose(ds) as Tensor2D, q!));
            }
            grads.push(tf.concat([...dq, ...dk, ...dv], 1));
          }
          return B === 1 ? grads[0]! : tf.concat(grads, 0);
        },
      };
    });
    return attend(qkv) as Tensor2D;
  }

  let mask: Tensor2D | undefined;
  /**
   * [T, T]: 0 on and below the diagonal, −1e9 above. One mask of the largest length so far is kept
   * until dispose(); shorter ones are its top-left corner.
   */
  function causalMask(T: number): Tensor2D {
    if (!mask || mask.shape[0] < T) {
      mask?.dispose();
      const values = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) values[i * T + j] = -1e9;
      mask = tf.keep(tf.tensor2d(values, [T, T]));
    }
    return mask.shape[0] === T ? mask : tf.slice(mask, [0, 0], [T, T]);
  }

  /**
   * Mean cross-entropy of logits [N, V] against `targets` (as softmax cross-entropy; the gradient is
   * (softmax − onehot)/N). Returns the mean; `perToken` gets each row's loss when given.
   */
  function crossEntropy(logits: Tensor2D, targets: Int32Array): Tensor {
    const [N, V] = logits.shape;
    const ce = custom((x: Tensor, save: Save) => {
      const lse = tf.logSumExp(x, -1, true);
      const flat = new Int32Array(N);
      for (let i = 0; i < N; i++) flat[i] = i * V + targets[i]!;
      const index = tf.tensor1d(flat, 'int32');
      const picked = tf.gather(tf.reshape(x, [-1]), index);
      save([x, lse]);
      return {
        value: tf.mean(tf.sub(tf.reshape(lse, [-1]), picked)),
        gradFunc: (dy, [sx, slse]) => {
          const labels = tf.tensor1d(targets, 'int32');
          const p = tf.exp(tf.sub(sx!, slse!));
          return tf.mul(tf.sub(p, tf.oneHot(labels, V)), tf.div(dy, N));
        },
      };
    });
    return ce(logits);
  }

  /** Per-row cross-entropy (no gradient), for evaluation by position. */
  function tokenLosses(logits: Tensor2D, targets: Int32Array): Tensor1D {
    return tf.tidy(() => {
      const [N, V] = logits.shape;
      const flat = new Int32Array(N);
      for (let i = 0; i < N; i++) flat[i] = i * V + targets[i]!;
      const picked = tf.gather(tf.reshape(logits, [-1]), tf.tensor1d(flat, 'int32'));
      return tf.sub(tf.reshape(tf.logSumExp(logits, -1), [-1]), picked) as Tensor1D;
    });
  }

  /** Frees what the ops keep between calls (the causal mask). */
  function dispose(): void {
    mask?.dispose();
    mask = undefined;
  }

  return {
    linear,
    tiedHead,
    embed,
    layerNorm,
    gelu,
    causalSelfAttention,
    crossEntropy,
    tokenLosses,
    causalMask,
    dispose,
  };
}
