// The sweep on the real demo pipeline (a copy of the repository's pipeline.yaml and
// experiments/): 2 learning rates × 2 context lengths. The five stages before train are the same
// stage key in every variant and must run once; train, evaluate and sample run once per variant.
// Executions are counted from `run --json` (each outcome "ran" is one execution; a variant that
// took a shared key from another says "cached"), not from log wording. Kept to one test: every
// variant trains a model.
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, makeWorkspace, REPO } from '../helpers/workspace.ts';

test('a 4-variant sweep of the demo runs each shared stage once, and compare SWEEP lists its variants', async () => {
  const ws = makeWorkspace({});
  try {
    cpSync(join(REPO, 'pipeline.yaml'), ws.path('pipeline.yaml'));
    cpSync(join(REPO, 'experiments'), ws.path('experiments'), { recursive: true });
    const args = ['run', 'experiments/demo.yaml', '--set', 'train.max_steps=10'];
    const sweep = ['--sweep', 'train.max_lr=6e-4,1.8e-3', '--sweep', 'train.context_length=32,64'];
    const result = await cli(ws.dir, [...args, ...sweep, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as {
      ok: boolean;
      executions: number;
      variants: { name: string; state: string; stages: { name: string; status: string; key: string }[] }[];
    };
    assert.deepEqual(
      json.variants.map((v) => [v.name, v.state]),
      [
        ['demo.max_lr-6e-4.context_length-32', 'done'],
        ['demo.max_lr-6e-4.context_length-64', 'done'],
        ['demo.max_lr-0.0018.context_length-32', 'done'],
        ['demo.max_lr-0.0018.context_length-64', 'done'],
      ],
    );
    const ranKeys = new Map<string, string[]>();
    for (const v of json.variants)
      for (const s of v.stages)
        if (s.status === 'ran') ranKeys.set(s.name, [...(ranKeys.get(s.name) ?? []), s.key]);
    const runs = Object.fromEntries([...ranKeys].map(([stage, keys]) => [stage, keys.length]));
    assert.deepEqual(runs, {
      download: 1,
      resample: 1,
      codec: 1,
      tokenize: 1,
      shard: 1,
      train: 4,
      evaluate: 4,
      sample: 4,
    });
    assert.equal(new Set(ranKeys.get('train')).size, 4, 'each variant trains its own model');
    assert.equal(json.executions, 17);

    const compare = await cli(ws.dir, ['compare', 'demo', '--json', '--by', 'evaluate.val_loss']);
    assert.equal(compare.code, 0, compare.stderr);
    const c = JSON.parse(compare.stdout);
    assert.deepEqual(
      c.experiments.map((e: { experiment: string; params: Record<string, unknown> }) => [
        e.experiment,
        e.params['train.max_lr'],
        e.params['train.context_length'],
      ]),
      [
        ['demo.max_lr-6e-4.context_length-32', 0.0006, 32],
        ['demo.max_lr-6e-4.context_length-64', 0.0006, 64],
        ['demo.max_lr-0.0018.context_length-32', 0.0018, 32],
        ['demo.max_lr-0.0018.context_length-64', 0.0018, 64],
      ],
    );
    assert.deepEqual(c.sweep.params, ['train.max_lr', 'train.context_length']);
    const losses = c.experiments.map(
      (e: { stages: { name: string; metrics: { val_loss?: number } }[] }) =>
        e.stages.find((s) => s.name === 'evaluate')!.metrics.val_loss!,
    );
    assert.equal(c.by.best, c.experiments[losses.indexOf(Math.min(...losses))].experiment);

    const again = await cli(ws.dir, [...args, ...sweep, '--json']);
    assert.equal(JSON.parse(again.stdout).executions, 0);
  } finally {
    ws.remove();
  }
});
