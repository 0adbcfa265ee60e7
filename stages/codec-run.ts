// The body of the `codec` stage, loaded only when it runs: fetch both models, open them, probe the
// codec's facts and write codec.json.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { type StageContext, StageError } from '../src/stage-api/index.ts';
import { probeCodec } from './codec/probe.ts';
import { listRandomOps } from './codec/random-ops.ts';
import type { CodecParams } from './codec.ts';
import { writeCodecFacts } from './contracts/codec-facts.ts';
import { fetchModel } from './lib/fetch-model.ts';
import { parseModelSource } from './lib/model-source.ts';

type Which = 'encoder' | 'decoder';

export async function runCodec(ctx: StageContext<CodecParams>): Promise<void> {
  const paths = { encoder: join(ctx.outDir, 'encoder.onnx'), decoder: join(ctx.outDir, 'decoder.onnx') };
  for (const which of ['encoder', 'decoder'] as const) {
    const source = parseModelSource(ctx.params[which]);
    if ('error' in source) throw new StageError(source.error);
    await fetchModel(ctx, ctx.params[which], source, paths[which], `${which}.onnx`);
  }
  const encoder = await open(ctx, paths, 'encoder');
  const decoder = await open(ctx, paths, 'decoder');
  try {
    const facts = {
      ...(await probeCodec(ort, encoder, decoder, ctx.params.sample_rate, ctx.params.pad_multiple)),
      // Unseeded random ops make decoding differ run to run; sample seeds them (README: reproducibility).
      random_ops: listRandomOps(await readFile(paths.decoder)),
    };
    await writeCodecFacts(ctx.outDir, facts);
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
}

async function open(
  ctx: StageContext<CodecParams>,
  paths: Record<Which, string>,
  which: Which,
): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(paths[which], { logSeverityLevel: 3 });
  } catch (cause) {
    throw new StageError(
      `${which}: ${ctx.params[which]} is not a model onnxruntime can load: ${(cause as Error).message}`,
      { hint: `check codec.${which}`, cause },
    );
  }
}
