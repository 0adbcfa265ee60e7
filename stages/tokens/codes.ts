// The codes of one stretch of audio from a three-level codec such as SNAC: level k has 2^k codes per
// coarse frame (rates 1:2:4), each code an index into a codebook of `codebookSize` entries.

export interface LevelCodes {
  /** [frames], [2·frames], [4·frames] */
  levels: [Uint16Array, Uint16Array, Uint16Array];
}

/** Number of coarse frames; throws when the levels are not in the 1:2:4 ratio. */
export function frameCount(codes: LevelCodes): number {
  const [c0, c1, c2] = codes.levels;
  if (c1.length !== 2 * c0.length || c2.length !== 4 * c0.length) {
    throw new RangeError(
      `codes must have 1:2:4 lengths per level, got ${c0.length}, ${c1.length}, ${c2.length}`,
    );
  }
  return c0.length;
}

/** Empty levels for `frames` frames. */
export function allocateCodes(frames: number): LevelCodes {
  return { levels: [new Uint16Array(frames), new Uint16Array(2 * frames), new Uint16Array(4 * frames)] };
}

/**
 * The seven codes of frame i in the order the original GPT2o script writes them:
 * c0[i], c1[2i], c2[4i], c2[4i+1], c1[2i+1], c2[4i+2], c2[4i+3].
 * As [level, index] pairs, so layouts and their inverse share one definition.
 */
export function frameOrder(i: number): [number, number][] {
  return [
    [0, i],
    [1, 2 * i],
    [2, 4 * i],
    [2, 4 * i + 1],
    [1, 2 * i + 1],
    [2, 4 * i + 2],
    [2, 4 * i + 3],
  ];
}

export const CODES_PER_FRAME = 7;
