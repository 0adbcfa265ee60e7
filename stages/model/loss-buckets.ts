// Where in a frame the model's loss goes: each target token's loss is put in the bucket of its place
// in the frame (0: the frame marker, 1-7: the codes in frameOrder), and the code places are summed
// per codebook level. Tokens whose place is unknown (before the first frame marker, or after a frame
// ran longer than tokensPerFrame) go to `other`. Pure, so evaluate's numbers are tested by hand.
import { frameOrder } from '../tokens/codes.ts';
import type { LayoutSpec } from '../tokens/token-layout.ts';

/** A sum of losses and how many tokens went into it. */
export interface LossSum {
  sum: number;
  count: number;
}

export interface LossBuckets {
  /** By place in the frame: [0] the frame marker, [1 + p] the code at code position p. */
  byPosition: LossSum[];
  /** Codebook level of the code at each code position p (frameOrder: 0, 1, 2, 2, 1, 2, 2). */
  levelOf: number[];
  /** Mean loss and token count per level ("0", "1", "2"); NaN loss when a level got no tokens. */
  byLevel: Record<string, { loss: number; tokens: number }>;
  /** Targets whose place in the frame is unknown. */
  other: LossSum;
}

/**
 * Buckets `losses` (losses[j - 1] is the loss of predicting stream[j]) by the place of each target.
 * stream[0] is never a target, but a frame marker there fixes the place of the next token.
 */
export function bucketLosses(
  stream: ArrayLike<number>,
  losses: ArrayLike<number>,
  spec: Pick<LayoutSpec, 'tokensPerFrame' | 'frameStart'>,
): LossBuckets {
  const perFrame = spec.tokensPerFrame;
  const byPosition: LossSum[] = Array.from({ length: perFrame }, () => ({ sum: 0, count: 0 }));
  const other: LossSum = { sum: 0, count: 0 };
  // -1: unknown until a marker.
  let place = stream[0] === spec.frameStart ? 0 : -1;
  for (let j = 1; j < stream.length; j++) {
    const token = stream[j]!;
    place = token === spec.frameStart ? 0 : place >= 0 && place < perFrame - 1 ? place + 1 : -1;
    const bucket = place >= 0 ? byPosition[place]! : other;
    bucket.sum += losses[j - 1]!;
    bucket.count++;
  }
  const levelOf = frameOrder(0).map(([level]) => level);
  const byLevel: LossBuckets['byLevel'] = {};
  for (const level of [0, 1, 2]) {
    let sum = 0;
    let count = 0;
    levelOf.forEach((l, i) => {
      if (l !== level) return;
      sum += byPosition[i + 1]!.sum;
      count += byPosition[i + 1]!.count;
    });
    byLevel[String(level)] = { loss: count ? sum / count : Number.NaN, tokens: count };
  }
  return { byPosition, levelOf, byLevel, other };
}
