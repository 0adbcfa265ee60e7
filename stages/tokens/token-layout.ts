// A token layout turns codec codes into the token stream the GPT trains on and back. It owns the
// three things that must agree: flatten, unflatten, and which token ids are legal at each position
// of a frame (what constrained sampling will use).
import { allocateCodes, CODES_PER_FRAME, frameCount, frameOrder, type LevelCodes } from './codes.ts';

export interface LayoutSpec {
  name: string;
  /** Tokens per frame: one frame marker plus the seven codes. */
  tokensPerFrame: number;
  vocabSize: number;
  /** Special token ids by name (stable keys, written to meta.json). */
  special: Record<string, number>;
  /** The token id of code `code` at code position `position` (0-6) of a frame. */
  encode(position: number, code: number): number;
  /** The code of token `token` at code position `position`, or -1 when it is not a code there. */
  decode(position: number, token: number): number;
  /** The token that opens every frame. */
  frameStart: number;
}

export class Layout {
  constructor(
    readonly spec: LayoutSpec,
    readonly codebookSize: number,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  /** Tokens for the codes: one frame marker, then the seven codes in the original's order, per frame. */
  flatten(codes: LevelCodes): Uint16Array {
    const frames = frameCount(codes);
    const out = new Uint16Array(frames * this.spec.tokensPerFrame);
    let t = 0;
    for (let i = 0; i < frames; i++) {
      out[t++] = this.spec.frameStart;
      for (const [p, [level, index]] of frameOrder(i).entries()) {
        const code = codes.levels[level as 0 | 1 | 2][index]!;
        if (code >= this.codebookSize)
          throw new RangeError(
            `code ${code} at level ${level} is outside the codebook (${this.codebookSize})`,
          );
        out[t++] = this.spec.encode(p, code);
      }
    }
    return out;
  }

  /**
   * Codes from tokens, tolerant of malformed streams (model samples): it resynchronises on frame
   * markers and drops any frame that is cut short or holds a token that is not a code at its place.
   */
  unflatten(tokens: ArrayLike<number>): LevelCodes & { dropped: number } {
    const frames: number[][] = [];
    let dropped = 0;
    let i = 0;
    while (i < tokens.length) {
      if (tokens[i] !== this.spec.frameStart) {
        i++;
        continue;
      }
      const frame: number[] = [];
      let j = i + 1;
      for (; j < tokens.length && frame.length < CODES_PER_FRAME; j++) {
        const code = this.spec.decode(frame.length, tokens[j]!);
        if (code < 0) break;
        frame.push(code);
      }
      if (frame.length === CODES_PER_FRAME) frames.push(frame);
      else dropped++;
      i = j;
    }
    const codes = allocateCodes(frames.length);
    frames.forEach((frame, f) => {
      for (const [p, [level, index]] of frameOrder(f).entries())
        codes.levels[level as 0 | 1 | 2][index] = frame[p]!;
    });
    return { ...codes, dropped };
  }

  /**
   * Token ids legal as the next token after `tokens` (constrained sampling): its place is counted
   * from the last frame marker; with no marker in the last frame's reach, a marker must come.
   */
  legalNext(tokens: ArrayLike<number>): { min: number; max: number } {
    const perFrame = this.spec.tokensPerFrame;
    for (let back = 1; back <= perFrame && back <= tokens.length; back++)
      if (tokens[tokens.length - back] === this.spec.frameStart) return this.legalAt(back % perFrame);
    return this.legalAt(0);
  }

  /** Token ids legal at position `p` of a frame (0: the marker, 1-7: codes), as an inclusive range. */
  legalAt(p: number): { min: number; max: number } {
    const position = ((p % this.spec.tokensPerFrame) + this.spec.tokensPerFrame) % this.spec.tokensPerFrame;
    if (position === 0) return { min: this.spec.frameStart, max: this.spec.frameStart };
    return {
      min: this.spec.encode(position - 1, 0),
      max: this.spec.encode(position - 1, this.codebookSize - 1),
    };
  }
}
