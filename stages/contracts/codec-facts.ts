// codec → tokenize, sample: `codec.json` beside encoder.onnx and decoder.onnx, the codec's facts as
// the codec stage measured them by running the models. tokenize reads the rate, the hop and frame
// sizes, the levels' strides, the codebook size and the tensor names.
import * as v from 'valibot';
import type { RandomOp } from '../codec/random-ops.ts';
import type { Batch } from '../codec/run-model.ts';
import { type JsonContract, positiveInt, readContract, writeContract } from './json-contract.ts';

const contract = {
  file: 'codec.json',
  what: 'codec facts file',
  producer: 'codec',
  schema: v.object({
    sample_rate: positiveInt,
    /** Samples per frame of the finest level. */
    hop_length: positiveInt,
    /** Samples per frame of each level divided by hop_length, in the encoder's output order. */
    strides: v.array(positiveInt),
    /** Samples per coarse frame: hop × the largest stride. */
    frame_samples: positiveInt,
    /**
     * Audio fed to the encoder must be a multiple of this many samples: frame_samples, or a multiple
     * of it given as `pad_multiple` (codecs with a local attention window need whole windows).
     */
    pad_multiple: positiveInt,
    codebook_size: positiveInt,
    encoder: v.object({ input: v.string(), outputs: v.array(v.string()) }),
    decoder: v.object({ inputs: v.array(v.string()), output: v.string() }),
  }),
} satisfies JsonContract<v.GenericSchema>;

/** What readers get. */
export type CodecFactsView = v.InferOutput<typeof contract.schema>;

/** What the codec stage writes. */
export interface CodecFacts extends CodecFactsView {
  levels: number;
  /** Each model's batch dimension: `dynamic`, or the fixed batch it was exported with. */
  batch: { encoder: Batch; decoder: Batch };
  /** The decoder's random ops (absent in codec.json of older runs). */
  random_ops?: RandomOp[];
}

export function writeCodecFacts(outDir: string, facts: CodecFacts): Promise<void> {
  return writeContract(outDir, contract, facts);
}

export function readCodecFacts(inputDir: string): CodecFactsView {
  return readContract(inputDir, contract);
}
