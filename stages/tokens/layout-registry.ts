// The token layouts `shard` can write (`tokens.layout`):
//
// gpt2o  — exactly the original script's stream: the separator 4097 before every frame, then the
//          seven codes unshifted (0-4095). Shards are interchangeable with the original's.
// offset — frame start 0 and end-of-chunk 1 as special tokens, then each of the seven code positions
//          in its own range of `codebook` ids (position p: 2 + p·codebook + code), so the vocabulary
//          itself tells the levels apart (as Orpheus-style models do).
import type { LayoutName } from './layout-names.ts';
import { Layout } from './token-layout.ts';

export { LAYOUT_NAMES, type LayoutName } from './layout-names.ts';

/** The layout named `name` for a codec with `codebookSize` codes per level. */
export function makeLayout(name: LayoutName, codebookSize: number): Layout {
  if (name === 'gpt2o') {
    if (codebookSize > 4096)
      throw new RangeError(`the gpt2o layout holds codebooks of up to 4096 codes, not ${codebookSize}`);
    const separator = 4097;
    return new Layout(
      {
        name,
        tokensPerFrame: 8,
        vocabSize: separator + 1,
        special: { separator },
        frameStart: separator,
        encode: (_p, code) => code,
        decode: (_p, token) => (token < codebookSize ? token : -1),
      },
      codebookSize,
    );
  }
  const base = 2;
  return new Layout(
    {
      name,
      tokensPerFrame: 8,
      vocabSize: base + 7 * codebookSize,
      special: { frame_start: 0, end_of_chunk: 1 },
      frameStart: 0,
      encode: (p, code) => base + p * codebookSize + code,
      decode: (p, token) => {
        const code = token - base - p * codebookSize;
        return code >= 0 && code < codebookSize ? code : -1;
      },
    },
    codebookSize,
  );
}
