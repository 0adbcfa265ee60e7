// `tokenize`: every chapter of resampled audio → codec codes, with the codec fetched by `codec`.
// Chapters are cut into `chunk_seconds` windows (rounded to whole coarse frames), batched
// `batch_size` at a time through an onnxruntime-node session, and written in the codes contract
// that `shard` reads (codes/<chapter>/level{0,1,2}.npy + manifest.json). The work is tokenize-run.ts.
import * as v from 'valibot';
import { defineStage } from '../src/stage-api/index.ts';
import { DEVICES, renamedParam } from './lib/device.ts';

const params = v.pipe(
  v.strictObject({
    // 30: pipeline.yaml's default, chosen on SNAC 24 kHz (README: Running with the real SNAC).
    chunk_seconds: v.optional(v.pipe(v.number(), v.gtValue(0)), 30),
    batch_size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 2),
    // 0: onnxruntime's default (all cores).
    threads: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
    // Where the encoder runs: cpu, or cuda (onnxruntime-node's CUDA provider; README: real SNAC).
    // The same word as train.device.
    device: v.optional(v.picklist(DEVICES), 'cpu'),
    // The old name of device: refused with the fix, below.
    provider: v.optional(v.unknown()),
  }),
  renamedParam('provider', 'device', 'codec.device'),
);

/** The validated `with:` of a tokenize stage. */
export type TokenizeParams = v.InferOutput<typeof params>;

export default defineStage({
  name: 'tokenize',
  version: 1,
  description: 'encode 24 kHz mono chapters into codec codes with onnxruntime-node',
  params,
  inputs: ['audio', 'codec'],
  async run(ctx) {
    const { runTokenize } = await import('./tokenize-run.ts');
    await runTokenize(ctx);
  },
});
