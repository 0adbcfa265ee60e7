// train.init_from through the CLI: a run that starts from another train stage's checkpoint
// (needs: {init: …}) continues with that checkpoint's loss (its step-0 val loss equals the val
// loss of the source's final weights within 1e-5); a local file and an http:// URL (a 127.0.0.1
// server) give the same start; a checkpoint of another shape is refused naming the tensor and both
// shapes; both init sources at once is refused; hf:OWNER/REPO/PATH@REV through HF_ENDPOINT with
// init_sha256 gives the same start, and a wrong init_sha256 is refused with the actual hash.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { readShardsMeta } from '../../stages/contracts/shards-meta.ts';
import { shardFiles, TokenLoader } from '../../stages/model/loader.ts';
import { OrtGradients } from '../../stages/model/onnx/ort-engine.ts';
import { readSafetensors } from '../../stages/model/safetensors.ts';
import { evaluateLoss } from '../../stages/model/training-run.ts';
import { fixtureStages } from '../fixtures/stages/index.ts';
import { FAKE_CODES_AND_SHARD } from '../helpers/fake-shards.ts';
import { startServer, type TestServer } from '../helpers/http-server.ts';
import { cli, makeWorkspace, runJson, type Workspace } from '../helpers/workspace.ts';

const trainWith = (extra: string) => `    with:
      n_layer: 2
      n_head: 2
      n_embd: \${width}
      context_length: 32
      micro_batch: 2
      total_batch: 128
      eval_interval: 5
      eval_steps: 2
      backend: onnxruntime
${extra}`;

const pipeline = (stages: string) => `params:
  width: 32
stages:
${FAKE_CODES_AND_SHARD}
  source:
    uses: train
    needs: {shards: shard}
${trainWith('      max_steps: 30\n      max_lr: 0.01')}
${stages}`;

const FINETUNE = `  finetune:
    uses: train
    needs: {shards: shard, init: source}
${trainWith('      max_steps: 3\n      max_lr: 0.001')}`;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

type Line = Record<string, number>;
const metrics = (ws: Workspace, stage: string): Line[] =>
  readFileSync(ws.path(`runs/pipeline/${stage}/metrics.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const firstVal = (lines: Line[]) => lines.find((l) => 'val_loss' in l && l.step === 0)!.val_loss!;

describe('train.init_from', () => {
  let ws: Workspace;
  let server: TestServer;
  /** The source's model.safetensors, as served. */
  let body: Buffer;
  before(async () => {
    ws = makeWorkspace({ 'pipeline.yaml': pipeline(FINETUNE) });
    const r = await runJson(ws.dir, [], fixtureStages);
    assert.equal(r.code, 0, r.stderr);
    mkdirSync(ws.path('ckpt'));
    copyFileSync(ws.path('runs/pipeline/source/model.safetensors'), ws.path('ckpt/source.safetensors'));
    body = readFileSync(ws.path('ckpt/source.safetensors'));
    server = await startServer({
      '/source.safetensors': { body },
      '/gpt2o/tiny/resolve/v1/source.safetensors': { body },
    });
  });
  after(async () => {
    await server.close();
    ws.remove();
  });

  test("a run from another train stage's checkpoint starts at that checkpoint's loss", async () => {
    const source = metrics(ws, 'source');
    const finetune = metrics(ws, 'finetune');
    // The val loss of the source's final weights, on the same val batches, in the same engine.
    const shards = ws.path('runs/pipeline/shard');
    const meta = readShardsMeta(shards);
    const weights = readSafetensors(ws.path('runs/pipeline/source/model.safetensors')).tensors;
    const config = { vocabSize: 4160, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32 };
    const engine = await OrtGradients.start(config, { device: 'cpu', microBatch: 2 });
    const loader = new TokenLoader(shardFiles(shards, 'val'), 2, 32, meta.val.tokens, 'val');
    const expected = await evaluateLoss(engine, weights, loader, 2);
    await engine.dispose();
    const start = firstVal(finetune);
    assert.ok(
      Math.abs(start - expected) < 1e-5,
      `finetune starts at val ${start}, the source ends at ${expected}`,
    );
    // Not a fresh start: the first step's loss is near where the source ended, far below its start.
    const steps = (lines: Line[]) => lines.filter((l) => 'loss' in l);
    assert.ok(steps(finetune)[0]!.loss! < steps(source)[0]!.loss! - 1.5);
  });

  test('a local file and an http:// URL give the same start', async () => {
    ws.write(
      'pipeline.yaml',
      pipeline(`  from_file:
    uses: train
    needs: {shards: shard}
${trainWith('      max_steps: 1\n      max_lr: 0.001\n      init_from: ckpt/source.safetensors')}
  from_url:
    uses: train
    needs: {shards: shard}
${trainWith(`      max_steps: 1\n      max_lr: 0.001\n      init_from: ${server.url('/source.safetensors')}`)}
  from_hub:
    uses: train
    needs: {shards: shard}
${trainWith(`      max_steps: 1\n      max_lr: 0.001\n      init_from: hf:gpt2o/tiny/source.safetensors@v1\n      init_sha256: ${sha256(body)}`)}
`),
    );
    // Built-in stages run in the CLI's process and read its environment.
    process.env.HF_ENDPOINT = server.origin;
    const r = await runJson(ws.dir, [], fixtureStages).finally(() => {
      delete process.env.HF_ENDPOINT;
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(firstVal(metrics(ws, 'from_hub')), firstVal(metrics(ws, 'from_file')));
    assert.equal(server.hits('/source.safetensors').length >= 1, true);
    const fromFile = firstVal(metrics(ws, 'from_file'));
    const fromUrl = firstVal(metrics(ws, 'from_url'));
    // The same weights as finetune's (bound through needs), so the same first val loss.
    assert.equal(fromFile, firstVal(metrics(ws, 'finetune')));
    assert.equal(fromUrl, fromFile);
    // The local file's content is in the key: another checkpoint there reruns from_file alone.
    copyFileSync(ws.path('runs/pipeline/finetune/model.safetensors'), ws.path('ckpt/source.safetensors'));
    const again = await runJson(ws.dir, [], fixtureStages);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.status.from_file, 'ran');
    assert.equal(again.status.from_url, 'cached');
    assert.notEqual(firstVal(metrics(ws, 'from_file')), fromFile);
  });

  test('a remote checkpoint whose sha256 is not init_sha256 is refused', async () => {
    const wrong = 'ab'.repeat(32);
    ws.write(
      'pipeline.yaml',
      pipeline(`  pinned:
    uses: train
    needs: {shards: shard}
${trainWith(`      max_steps: 1\n      max_lr: 0.001\n      init_from: ${server.url('/source.safetensors')}\n      init_sha256: ${wrong}`)}
`),
    );
    const r = await cli(ws.dir, ['run', 'pinned'], { registry: fixtureStages });
    assert.equal(r.code, 1, r.stderr);
    const actual = sha256(body);
    assert.ok(r.stderr.includes(`has sha256 ${actual}, but init_sha256 pins ${wrong}`), r.stderr);
  });

  test('a checkpoint of another shape is refused, naming the tensor and both shapes', async () => {
    ws.write(
      'pipeline.yaml',
      pipeline(`  wrong:
    uses: train
    needs: {shards: shard}
${trainWith('      max_steps: 1\n      init_from: ckpt/source.safetensors').replace('${width}', '16')}
`),
    );
    const r = await cli(ws.dir, ['run', 'wrong'], { registry: fixtureStages });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /init_from ckpt\/source\.safetensors: tensor "transformer\.wte\.weight" has shape \[4160, 32\], this model needs \[4160, 16\]/,
    );
    assert.match(r.stderr, /set n_layer, n_head, n_embd, context_length and vocab_size/);
  });

  test('init_from and needs.init together are refused', async () => {
    ws.write(
      'pipeline.yaml',
      pipeline(FINETUNE.replace('max_lr: 0.001', 'max_lr: 0.001\n      init_from: ckpt/source.safetensors')),
    );
    const r = await cli(ws.dir, ['run', 'finetune'], { registry: fixtureStages });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /train has both init_from \(ckpt\/source\.safetensors\) and an "init" input/);
  });
});
