// `executor:` and `resources:` in specs and `run --executor`: validated like the rest of the spec,
// never part of the cache key, and mapped to sbatch arguments. (The cluster itself: test/slurm/cluster.)
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { CmdStage } from '../../src/pipeline/types.ts';
import { sbatchArgs } from '../../src/run/slurm/job.ts';
import { cli, makeWorkspace, runJson, type Workspace } from '../helpers/workspace.ts';

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

// A stand-in for a cluster: `sbatch` runs the job script at once (as the job would run on a node,
// with SLURM_JOB_ID set) into the --output file and prints the job id; `scontrol` says the job
// COMPLETED. Real processes throughout: the head submits, follows the log, then serves the result
// the job committed, as on a real cluster (test/slurm/cluster/).
function fakeSlurm(ws: Workspace): string {
  const bin = ws.path('fake-slurm');
  ws.write(
    'fake-slurm/sbatch',
    `#!/bin/sh
out=""; for a in "$@"; do case "$a" in --output=*) out="\${a#--output=}";; esac; script="$a"; done
echo "$@" > ${bin}/sbatch-args
out=$(echo "$out" | sed 's/%j/4242/')
SLURM_JOB_ID=4242 SLURMD_NODENAME=node7 sh "$script" > "$out" 2>&1
echo 4242
`,
  );
  ws.write(
    'fake-slurm/scontrol',
    '#!/bin/sh\necho "JobId=$4 JobState=COMPLETED ExitCode=0:0 NodeList=node7"\n',
  );
  chmodSync(join(bin, 'sbatch'), 0o755);
  chmodSync(join(bin, 'scontrol'), 0o755);
  return bin;
}

describe('the slurm executor, against stand-in sbatch and scontrol', () => {
  test('a stage is submitted, its job log streamed, and the result the job committed is served', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  prep: { cmd: echo local > p.txt, outs: [p.txt] }
  big:
    cmd: cat p.txt > b.txt && echo on-the-node >> b.txt
    needs: [prep]
    outs: [b.txt]
    executor: slurm
    resources: { cpus: 2, mem: 1G }
`,
    });
    const path = process.env.PATH;
    process.env.PATH = `${fakeSlurm(ws)}:${path}`;
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.status, { prep: 'ran', big: 'ran' });
      assert.equal(ws.read('runs/pipeline/big/b.txt'), 'local\non-the-node\n');
      assert.match(
        ws.read('fake-slurm/sbatch-args'),
        /^--parsable --job-name=gpt2o-big --output=\S+\/logs\/slurm-big-%j\.log --cpus-per-task=2 --mem=1G \S+\/job\.sh\n$/,
      );
      // The job's own output is in the Slurm log the layout names; its record says where it ran.
      assert.match(ws.read('cache/logs/slurm-big-4242.log'), /big/);
      const key = r.json.stages.find((s) => s.name === 'big')!.key!;
      const record = JSON.parse(
        readFileSync(ws.path(`cache/actions/${key.slice(0, 2)}/${key}.json`), 'utf8'),
      );
      assert.equal(record.slurm.jobId, '4242');
      assert.equal(record.slurm.node, 'node7');
      // The claim is released and nothing is left in tmp/.
      assert.deepEqual(
        readdirSync(ws.path('cache/locks')).filter((n) => n.endsWith('.slurm')),
        [],
      );
      assert.deepEqual((await runJson(ws.dir)).status, { prep: 'cached', big: 'cached' });
    } finally {
      process.env.PATH = path;
      ws.remove();
    }
  });
});
