// `executor:` and `resources:` in specs and `run --executor`: validated like the rest of the spec,
// never part of the cache key, and mapped to sbatch arguments. (The cluster itself: test/slurm/cluster.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sbatchArgs } from '../../src/run/slurm.ts';
import type { CmdStage } from '../../src/spec/types.ts';
import { cli, makeWorkspace, runJson } from '../helpers/workspace.ts';

async function inWorkspace<T>(files: Record<string, string>, body: (dir: string) => Promise<T>): Promise<T> {
  const ws = makeWorkspace(files);
  try {
    return await body(ws.dir);
  } finally {
    ws.remove();
  }
}

describe('executor and resources in specs', () => {
  test('an unknown executor is a located schema error', async () => {
    const r = await inWorkspace(
      { 'pipeline.yaml': 'stages:\n  a:\n    cmd: echo a > a\n    outs: [a]\n    executor: kubernetes\n' },
      (dir) => cli(dir, ['run']),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /pipeline\.yaml:5:15 error E_SPEC_SCHEMA/);
    assert.match(r.stderr, /stages\.a\.executor: expected \("local" \| "slurm"\), got "kubernetes"/);
  });

  test('a misspelled resources key names the allowed ones', async () => {
    const r = await inWorkspace(
      { 'pipeline.yaml': 'stages:\n  a:\n    cmd: echo a > a\n    outs: [a]\n    resources: { cpu: 2 }\n' },
      (dir) => cli(dir, ['run']),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /E_SPEC_UNKNOWN_KEY/);
    assert.match(r.stderr, /unknown key "cpu"/);
    assert.match(r.stderr, /cpus/);
  });

  test('a bad top-level executor is a schema error of the pipeline spec', async () => {
    const r = await inWorkspace(
      { 'pipeline.yaml': 'executor: lsf\nstages:\n  a:\n    cmd: echo a > a\n    outs: [a]\n' },
      (dir) => cli(dir, ['run']),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /pipeline\.yaml:1:11 error E_SPEC_SCHEMA/);
    assert.match(r.stderr, /executor: expected \("local" \| "slurm"\), got "lsf"/);
  });

  test('bad resource values are all reported', async () => {
    const r = await inWorkspace(
      {
        'pipeline.yaml':
          'stages:\n  a:\n    cmd: echo a > a\n    outs: [a]\n    resources: { cpus: 0, mem: lots, gpus: 1.5 }\n',
      },
      (dir) => cli(dir, ['run']),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cpus must be at least 1/);
    assert.match(r.stderr, /stages\.a\.resources\.mem: mem must look like 4096, 512M or 4G/);
    assert.match(r.stderr, /gpus must be a whole number/);
  });

  test('--executor must be local or slurm', async () => {
    const r = await inWorkspace(
      { 'pipeline.yaml': 'stages:\n  a:\n    cmd: echo a > a\n    outs: [a]\n' },
      (dir) => cli(dir, ['run', '--executor', 'k8s']),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--executor must be "local" or "slurm", got "k8s"/);
  });

  test('executor and resources do not change the cache key; a dry run submits nothing', async () => {
    const stage = (extra: string) => `stages:\n  a:\n    cmd: echo a > a\n    outs: [a]\n${extra}`;
    const keyOf = (files: Record<string, string>, args: string[] = []) =>
      inWorkspace(files, async (dir) => {
        const r = await runJson(dir, ['--dry-run', ...args]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.status.a, 'would-run');
        return r.json.stages[0]!.key;
      });
    const plain = await keyOf({ 'pipeline.yaml': stage('') });
    const onSlurm = await keyOf({
      'pipeline.yaml': stage(
        '    executor: slurm\n    resources: { cpus: 4, mem: 8G, gpus: 1, time: "2:00:00" }\n',
      ),
    });
    const viaFlag = await keyOf({ 'pipeline.yaml': stage('') }, ['--executor', 'slurm']);
    assert.equal(onSlurm, plain);
    assert.equal(viaFlag, plain);
  });

  test('an experiment may set the default executor', async () => {
    const r = await inWorkspace(
      {
        'pipeline.yaml': 'stages:\n  a:\n    cmd: echo a > a\n    outs: [a]\n',
        'experiments/big.yaml': 'extends: ../pipeline.yaml\nexecutor: slurm\n',
      },
      (dir) => runJson(dir, ['experiments/big.yaml', '--dry-run']),
    );
    assert.equal(r.code, 0, r.stderr);
  });

  test('resources map to sbatch arguments', () => {
    const stage = {
      name: 'train',
      resources: { cpus: 8, mem: '32G', gpus: 2, time: 90, partition: 'gpu', sbatch: ['--account=ml'] },
    } as unknown as CmdStage;
    assert.deepEqual(sbatchArgs(stage, '/c/logs/slurm-train-%j.log'), [
      '--parsable',
      '--job-name=gpt2o-train',
      '--output=/c/logs/slurm-train-%j.log',
      '--cpus-per-task=8',
      '--mem=32G',
      '--gres=gpu:2',
      '--time=90',
      '--partition=gpu',
      '--account=ml',
    ]);
  });
});
