// The body of the `evaluate` stage, loaded only when it runs: the val tokens' losses under the
// trained model, bucketed by place in the frame and by codebook level (model/loss-buckets.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type StageContext, StageError } from '../src/stage-api/index.ts';
import { readShardsMeta } from './contracts/shards-meta.ts';
import type { EvaluateParams } from './evaluate.ts';
import { meanOf, streamLosses } from './model/eval-loss.ts';
import { openModel } from './model/inference.ts';
import { bucketLosses } from './model/loss-buckets.ts';
import { readValTokens } from './model/val-stream.ts';
import { makeLayout } from './tokens/layout-registry.ts';

export async function runEvaluate(ctx: StageContext<EvaluateParams>): Promise<void> {
  const p = ctx.params;
  const shards = ctx.input('shards');
  const meta = readShardsMeta(shards);
  const stream = readValTokens(shards, p.max_tokens ?? undefined);
  if (stream.length < 2)
    throw new StageError(`the val split has ${stream.length} tokens; evaluation needs at least 2`, {
      hint: 'give data.val_pattern a chapter with audio',
    });
  const model = await openModel(ctx.input('model'), p.backend, p.device, ctx.threads);
  const T = model.config.blockSize;
  const started = performance.now();
  const { losses, windows } = await streamLosses(
    model.tokenLosses,
    stream,
    T,
    p.batch_size,
    ctx.signal,
    (done, total) => ctx.progress({ done, total, unit: 'windows' }),
  );
  await model.dispose();
  const seconds = (performance.now() - started) / 1000;

  const layout = makeLayout(meta.layout, meta.codebook_size);
  const buckets = bucketLosses(stream, losses, layout.spec);
  const valLoss = meanOf(losses);
  const metrics = {
    val_loss: valLoss,
    perplexity: Math.exp(valLoss),
    tokens: losses.length,
    windows,
    context_length: T,
    layout: layout.name,
    by_position: buckets.byPosition.map((b, position) => ({
      position,
      what: position === 0 ? 'frame marker' : `level ${buckets.levelOf[position - 1]} code`,
      loss: b.count ? b.sum / b.count : null,
      tokens: b.count,
    })),
    by_level: buckets.byLevel,
    other_tokens: buckets.other.count,
    backend: model.backend,
    seconds: Math.round(seconds * 1000) / 1000,
    tokens_per_sec: Math.round((losses.length / seconds) * 10) / 10,
  };
  writeFileSync(join(ctx.outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  ctx.metric('val_loss', valLoss);
  ctx.metric('perplexity', metrics.perplexity);
  ctx.metric('val_tokens', losses.length);
  ctx.metric('eval_tokens_per_sec', metrics.tokens_per_sec);
  ctx.log(
    `val loss ${valLoss.toFixed(4)} (perplexity ${metrics.perplexity.toFixed(2)}) over ${losses.length} tokens; ` +
      `by level: ${[0, 1, 2].map((l) => buckets.byLevel[String(l)]!.loss.toFixed(3)).join(' / ')}; ` +
      `${metrics.tokens_per_sec} tok/s on ${model.detail}`,
  );
}
