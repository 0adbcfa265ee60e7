// `evaluate`: validation loss and perplexity of the trained model over the val split (all of it, or
// the first `max_tokens`), plus the loss by place in a frame and by codebook level (from the token
// layout), written to metrics.json; `compare` reads it. Same protocol as scripts/torch_gpt2.py.
import * as v from 'valibot';
import { defineStage, StageError } from '../src/stage-api/index.ts';
import { unsetWhenNull } from './lib/unset.ts';
import { DEVICES, TRAIN_BACKENDS } from './model/backend.ts';

export default defineStage({
  name: 'evaluate',
  // 2: attention per head from qkv (same math, other rounding). 3: auto runs onnxruntime.
  version: 3,
  description: 'val loss, perplexity and loss per frame position / codebook level',
  params: v.pipe(
    v.strictObject({
      // null: the whole val split.
      max_tokens: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(2))), null),
      // Windows per forward pass.
      batch_size: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 4),
      // The pipeline passes train.backend: the model is evaluated on the engine it trained on.
      backend: v.optional(v.picklist(TRAIN_BACKENDS), 'auto'),
      // onnxruntime only; absent means cpu (no default, so existing keys stay).
      device: unsetWhenNull(v.picklist(DEVICES)),
    }),
    v.forward(
      v.check(
        (p) => p.device === undefined || p.backend === 'onnxruntime' || p.backend === 'auto',
        'device applies to backends onnxruntime and auto (the tfjs backends pick their device by name)',
      ),
      ['device'],
    ),
  ),
  inputs: ['model', 'shards'],
  // The weights, not train's metrics (which hold timings): a retrain to the same weights keeps
  // this stage cached. Only the val split of the shards.
  reads: { model: ['model.safetensors', 'config.json'], shards: ['meta.json', 'val_*'] },
  async run(ctx) {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { openModel } = await import('./model/inference.ts');
    const { readShardsMeta } = await import('./model/shards-meta.ts');
    const { readValTokens } = await import('./model/val-stream.ts');
    const { streamLosses, meanOf } = await import('./model/eval-loss.ts');
    const { makeLayout } = await import('./tokens/layout-registry.ts');
    const { frameOrder } = await import('./tokens/codes.ts');
    const p = ctx.params;
    const shards = ctx.input('shards');
    const meta = readShardsMeta(shards);
    const stream = readValTokens(shards, p.max_tokens ?? undefined);
    if (stream.length < 2)
      throw new StageError(`the val split has ${stream.length} tokens; evaluation needs at least 2`, {
        hint: 'give data.val_pattern a chapter with audio',
      });
    const model = await openModel(ctx.input('model'), p.backend, p.device);
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

    // Place of each target in its frame: 0 is the frame marker, 1-7 the codes in frameOrder.
    const layout = makeLayout(meta.layout, meta.codebook_size);
    const perFrame = layout.spec.tokensPerFrame;
    const byPosition = Array.from({ length: perFrame }, () => ({ sum: 0, count: 0 }));
    const other = { sum: 0, count: 0 };
    // The first token is never a target but fixes the place of the next; -1: unknown until a marker.
    let place = stream[0] === layout.spec.frameStart ? 0 : -1;
    for (let j = 1; j < stream.length; j++) {
      const token = stream[j]!;
      place = token === layout.spec.frameStart ? 0 : place >= 0 && place < perFrame - 1 ? place + 1 : -1;
      const bucket = place >= 0 ? byPosition[place]! : other;
      bucket.sum += losses[j - 1]!;
      bucket.count++;
    }
    const levelOf = frameOrder(0).map(([level]) => level); // code position p → level
    const byLevel: Record<string, { loss: number; tokens: number }> = {};
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
    const valLoss = meanOf(losses);
    const metrics = {
      val_loss: valLoss,
      perplexity: Math.exp(valLoss),
      tokens: losses.length,
      windows,
      context_length: T,
      layout: layout.name,
      by_position: byPosition.map((b, position) => ({
        position,
        what: position === 0 ? 'frame marker' : `level ${levelOf[position - 1]} code`,
        loss: b.count ? b.sum / b.count : null,
        tokens: b.count,
      })),
      by_level: byLevel,
      other_tokens: other.count,
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
        `by level: ${[0, 1, 2].map((l) => byLevel[String(l)]!.loss.toFixed(3)).join(' / ')}; ` +
        `${metrics.tokens_per_sec} tok/s on ${model.detail}`,
    );
  },
});
