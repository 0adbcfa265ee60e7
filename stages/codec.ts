// `codec`: fetches the audio codec's ONNX encoder and decoder (SNAC 24 kHz by default) into the
// cache, checks that they have the codec contract, and records the codec's facts in codec.json,
// measured by running the models (hop length, levels and strides, codebook size). The work is
// codec-run.ts.
import * as v from 'valibot';
import { defineStage } from '../src/stage-api/index.ts';
import { parseModelSource } from './lib/model-source.ts';

const modelRef = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const parsed = parseModelSource(dataset.value);
    if ('error' in parsed) addIssue({ message: parsed.error });
  }),
);

const params = v.strictObject({
  encoder: modelRef,
  decoder: modelRef,
  // The rate the codec was trained at; a model cannot tell it, so it is a param (SNAC 24 kHz).
  sample_rate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1000)), 24000),
  // Samples the encoder's input must be a multiple of; 0 takes the measured coarse frame (hop ×
  // largest stride). Codecs with a local attention window need a multiple of the window.
  pad_multiple: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
});

/** The validated `with:` of a codec stage. */
export type CodecParams = v.InferOutput<typeof params>;

export default defineStage({
  name: 'codec',
  version: 1,
  description: 'fetch and check an ONNX audio codec (encoder + decoder) and measure its facts',
  params,
  // Local model files are read from the project: their content is part of the key.
  deps(p) {
    return [p.encoder, p.decoder].flatMap((text) => {
      const source = parseModelSource(text);
      return 'kind' in source && source.kind === 'local' ? [source.path] : [];
    });
  },
  async run(ctx) {
    const { runCodec } = await import('./codec-run.ts');
    await runCodec(ctx);
  },
});
