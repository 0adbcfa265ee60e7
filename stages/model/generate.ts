// Autoregressive sampling: temperature, top-k, top-p (nucleus), seeded; with a KV cache (each new
// token is one forward step of one position) or without (each step recomputes the whole window,
// the reference the cache is tested against). `allowed` restricts each step's token ids to a
// range (constrained decoding: only ids legal at the current place in a frame). The model is
// anything that gives last-position logits (a Decoder): the tfjs Gpt here, or ONNX Runtime's
// KV-cache graph (onnx/ort-model.ts).
import type { GptConfig } from './config.ts';
import { Gpt, type KvCache } from './gpt.ts';
import { Rng } from './rng.ts';

/** What sampling needs of a model. */
export interface Decoder {
  readonly config: GptConfig;
  /**
   * Logits [B·V] of the last of T new positions in B rows of ids [B·T]. `cached`: the ids follow
   * the positions already cached, and join them; otherwise they stand alone, from position 0.
   */
  lastLogits(ids: Int32Array, B: number, T: number, cached: boolean): Promise<Float32Array>;
  /** Forgets the cached positions (a new window). */
  resetCache(): void;
}

/** The tfjs model as a Decoder (its KvCache holds the cached positions). */
export function gptDecoder(model: Gpt): Decoder {
  const { tf } = model;
  let cache: KvCache = model.newCache();
  return {
    config: model.config,
    async lastLogits(ids, B, T, cached) {
      const last = tf.tidy(() =>
        // The last position of each row: [B, V]
        tf.gather(
          model.forward(ids, B, T, cached ? cache : undefined),
          Array.from({ length: B }, (_, b) => b * T + T - 1),
        ),
      );
      const rows = last.dataSync() as Float32Array;
      last.dispose();
      return rows;
    },
    resetCache() {
      model.disposeCache(cache);
      cache = model.newCache();
    },
  };
}

export interface SampleOptions {
  count: number;
  maxNewTokens: number;
  temperature: number;
  /** 0: off. */
  topK: number;
  /** 1: off. */
  topP: number;
  seed: number;
  kvCache: boolean;
  /** Legal ids for the next token given the sequence so far; undefined: any id. */
  allowed?: (sequence: ArrayLike<number>) => { min: number; max: number };
  onToken?: (done: number) => void;
  signal?: AbortSignal;
}

/** `count` continuations of `prompt` (each returned with the prompt in front). */
export async function generate(
  source: Gpt | Decoder,
  prompt: ArrayLike<number>,
  o: SampleOptions,
): Promise<Int32Array[]> {
  const model = source instanceof Gpt ? gptDecoder(source) : source;
  const B = o.count;
  const block = model.config.blockSize;
  const rng = new Rng(o.seed);
  const sequences = Array.from({ length: B }, () => {
    const s = new Int32Array(prompt.length + o.maxNewTokens);
    s.set(Array.from(prompt));
    return s;
  });
  let length = prompt.length;
  const cache = o.kvCache;
  // Positions already in the cache; the window restarts (re-prefills) when it reaches the context.
  let windowStart = 0;
  let cached = 0;
  try {
    for (let step = 0; step < o.maxNewTokens; step++) {
      if (o.signal?.aborted) throw new Error('interrupted');
      if (length - windowStart >= block) {
        // The context is full: keep the newest 3/4 of it and start a fresh window.
        windowStart = length - Math.floor((3 * block) / 4);
        if (cache) model.resetCache();
        cached = 0;
      }
      // Without a cache the whole window is recomputed: the same window (and positions) the cache
      // sees, so both give the same tokens.
      const from = cache ? windowStart + cached : windowStart;
      const T = length - from;
      const ids = new Int32Array(B * T);
      for (const [b, s] of sequences.entries()) ids.set(s.subarray(from, length), b * T);
      const rows = await model.lastLogits(ids, B, T, cache);
      if (cache) cached += T;
      const V = model.config.vocabSize;
      sequences.forEach((s, b) => {
        const range = o.allowed?.(s.subarray(0, length)) ?? { min: 0, max: V - 1 };
        s[length] = pick(rows.subarray(b * V, (b + 1) * V), range, o, rng);
      });
      length++;
      o.onToken?.(step + 1);
      // Let progress events and Ctrl-C through (a stage runs on the CLI's event loop).
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    model.resetCache();
  }
  return sequences;
}

/** Samples one id in [range.min, range.max] from logits with temperature, top-k and top-p. */
export function pick(
  logits: Float32Array,
  range: { min: number; max: number },
  o: SampleOptions,
  rng: Rng,
): number {
  if (o.temperature <= 0) {
    let best = range.min;
    for (let id = range.min + 1; id <= range.max; id++) if (logits[id]! > logits[best]!) best = id;
    return best;
  }
  if (o.topK <= 0 && o.topP >= 1) return pickFromAll(logits, range, o.temperature, rng);
  // By logit, descending (ties by id, so the order is deterministic): top-k and top-p keep a prefix.
  const ids = byLogitDescending(logits, range);
  let kept = o.topK > 0 ? ids.subarray(0, o.topK) : ids;
  const top = logits[kept[0]!]!;
  let weights = new Float64Array(kept.length);
  let total = 0;
  for (let i = 0; i < kept.length; i++) {
    weights[i] = Math.exp((logits[kept[i]!]! - top) / o.temperature);
    total += weights[i]!;
  }
  if (o.topP < 1) {
    // The smallest prefix whose probability reaches top_p.
    let mass = 0;
    let n = 0;
    while (n < kept.length && mass < o.topP * total) mass += weights[n++]!;
    kept = kept.subarray(0, n);
    weights = weights.subarray(0, n);
    total = mass;
  }
  let u = rng.next() * total;
  for (let i = 0; i < kept.length; i++) {
    u -= weights[i]!;
    if (u < 0) return kept[i]!;
  }
  return kept[kept.length - 1]!;
}

/**
 * Plain temperature sampling over the whole range, walked in id order: no order by logit is
 * needed when nothing is cut, and the sort was half of a sampled token's time on ONNX Runtime.
 */
function pickFromAll(
  logits: Float32Array,
  range: { min: number; max: number },
  temperature: number,
  rng: Rng,
): number {
  let top = logits[range.min]!;
  for (let id = range.min + 1; id <= range.max; id++) if (logits[id]! > top) top = logits[id]!;
  const weights = new Float64Array(range.max - range.min + 1);
  let total = 0;
  for (let i = 0; i < weights.length; i++) {
    weights[i] = Math.exp((logits[range.min + i]! - top) / temperature);
    total += weights[i]!;
  }
  let u = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i]!;
    if (u < 0) return range.min + i;
  }
  return range.max;
}

const ID_SPAN = 2 ** 20;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The ids of `range` ordered by logit, descending, ties by id ascending: the order of the
 * comparator (a, b) => logits[b] − logits[a] || a − b, but a native sort of one float64 key per id
 * (the logit's bits in descending order × 2²⁰ + the id's offset), several times faster than a
 * comparator over a vocabulary of thousands on every sampled token.
 */
function byLogitDescending(logits: Float32Array, range: { min: number; max: number }): Int32Array {
  const count = range.max - range.min + 1;
  if (count > ID_SPAN) throw new RangeError(`a range of ${count} ids is more than the sampler sorts`);
  const keys = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    f32[0] = logits[range.min + i]! || 0; // −0 sorts as +0, as in the comparator
    const bits = u32[0]!;
    // Float bits → an unsigned integer in ascending order of value, then reversed.
    const ascending = bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
    keys[i] = (0xffffffff - ascending) * ID_SPAN + i;
  }
  keys.sort();
  const ids = new Int32Array(count);
  for (let i = 0; i < count; i++) ids[i] = range.min + (keys[i]! % ID_SPAN);
  return ids;
}
