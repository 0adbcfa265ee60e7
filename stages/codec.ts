// `codec`: fetches the audio codec's ONNX encoder and decoder (SNAC 24 kHz by default) into the
// cache, checks that they have the codec contract, and records the codec's facts in codec.json,
// measured by running the models (hop length, levels and strides, codebook size).
import * as v from 'valibot';
import { defineStage, StageError } from '../src/stage-api/index.ts';
import { parseModelSource } from './lib/model-source.ts';

const modelRef = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const parsed = parseModelSource(dataset.value);
    if ('error' in parsed) addIssue({ message: parsed.error });
  }),
);

export default defineStage({
  name: 'codec',
  version: 1,
  description: 'fetch and check an ONNX audio codec (encoder + decoder) and measure its facts',
  params: v.strictObject({
    encoder: modelRef,
    decoder: modelRef,
    // The rate the codec was trained at; a model cannot tell it, so it is a param (SNAC 24 kHz).
    sample_rate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1000)), 24000),
    // Samples the encoder's input must be a multiple of; 0 takes the measured coarse frame (hop ×
    // largest stride). Codecs with a local attention window need a multiple of the window.
    pad_multiple: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  }),
  // Local model files are read from the project: their content is part of the key.
  deps(p) {
    return [p.encoder, p.decoder].flatMap((text) => {
      const source = parseModelSource(text);
      return 'kind' in source && source.kind === 'local' ? [source.path] : [];
    });
  },
  async run(ctx) {
    const { fetchModel } = await import('./lib/fetch-model.ts');
    const { probeCodec } = await import('./codec/probe.ts');
    const { readFile, writeFile } = await import('node:fs/promises');
    const { listRandomOps } = await import('./codec/random-ops.ts');
    const { join } = await import('node:path');
    const ort = await import('onnxruntime-node');
    const paths = { encoder: join(ctx.outDir, 'encoder.onnx'), decoder: join(ctx.outDir, 'decoder.onnx') };
    for (const which of ['encoder', 'decoder'] as const) {
      const source = parseModelSource(ctx.params[which]);
      if ('error' in source) throw new StageError(source.error);
      await fetchModel(ctx, ctx.params[which], source, paths[which], `${which}.onnx`);
    }
    const open = async (which: 'encoder' | 'decoder') => {
      try {
        return await ort.InferenceSession.create(paths[which], { logSeverityLevel: 3 });
      } catch (cause) {
        throw new StageError(
          `${which}: ${ctx.params[which]} is not a model onnxruntime can load: ${(cause as Error).message}`,
          {
            hint: `check codec.${which}`,
            cause,
          },
        );
      }
    };
    const encoder = await open('encoder');
    const decoder = await open('decoder');
    try {
      const facts = {
        ...(await probeCodec(ort, encoder, decoder, ctx.params.sample_rate, ctx.params.pad_multiple)),
        // Unseeded random ops make decoding differ run to run; sample seeds them (README: reproducibility).
        random_ops: listRandomOps(await readFile(paths.decoder)),
      };
      await writeFile(join(ctx.outDir, 'codec.json'), `${JSON.stringify(facts, null, 2)}\n`);
      for (const key of ['hop_length', 'levels', 'codebook_size', 'pad_multiple'] as const)
        ctx.metric(key, facts[key]);
      ctx.log(
        `codec: ${facts.levels} levels, hop ${facts.hop_length}, strides ${facts.strides.join(':')}, codebook ${facts.codebook_size}, ${facts.sample_rate} Hz`,
      );
      if (facts.random_ops.length > 0)
        ctx.log(
          `decoder: ${facts.random_ops.length} random op(s) (${facts.random_ops.map((o) => o.op).join(', ')}); sample seeds them from sample.seed`,
        );
    } finally {
      await encoder.release();
      await decoder.release();
    }
  },
});
