// The slurm executor against a real one-node Slurm cluster that this test starts (test/slurm/start.sh)
// and stops. Run with `npm run test:slurm` (needs root, slurm-wlm and munge); it fails, never skips,
// when the cluster cannot start.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execCli, makeWorkspace, spawnCli, type Workspace } from '../../helpers/workspace.ts';
import { scontrolJob, settledJob, startCluster } from '../cluster-helpers.ts';

const PIPELINE = `
params:
  n: 3
stages:
  numbers:
    cmd: seq \${n} > numbers.txt && echo "numbers on $(hostname)"
    outs: [numbers.txt]
    resources: { cpus: 1, mem: 200M, time: 5 }
  letters:
    cmd: printf 'a\\nb\\n' > letters.txt
    outs: [letters.txt]
  both:
    cmd: cat numbers.txt letters.txt > both.txt
    deps: [numbers.txt, letters.txt]
    outs: [both.txt]
    executor: local
`;

interface Record_ {
  output: { tree: string };
  slurm?: { jobId: string; node: string; resources: Record<string, unknown> };
}

function record(cache: string, key: string): Record_ {
  return JSON.parse(readFileSync(join(cache, 'actions', key.slice(0, 2), `${key}.json`), 'utf8'));
}

async function runJsonBin(ws: Workspace, args: string[]) {
  const r = await execCli(ws.dir, ['run', ...args, '--json']);
  try {
    const json = JSON.parse(r.stdout) as { stages: { name: string; status: string; key: string }[] };
    return { ...r, json, byName: Object.fromEntries(json.stages.map((s) => [s.name, s])) };
  } catch {
    throw new Error(`run --json printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

describe('slurm executor', () => {
  let ws: Workspace;

  let stopCluster: (() => void) | undefined;

  before(() => {
    // Throws (the suite fails) when the cluster does not come up: never a silent skip.
    stopCluster = startCluster();
    ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
  });

  after(() => {
    stopCluster?.();
    ws?.remove();
  });

  test('stages on Slurm give the same keys and outputs as a local run, and record the job', async () => {
    const slurm = await runJsonBin(ws, ['--executor', 'slurm', '--set', 'n=4', '--cache', 'cache-slurm']);
    assert.equal(slurm.code, 0, slurm.stderr);
    const local = await runJsonBin(ws, ['--set', 'n=4', '--cache', 'cache-local']);
    assert.equal(local.code, 0, local.stderr);
    for (const name of ['numbers', 'letters', 'both']) {
      assert.equal(slurm.byName[name]!.status, 'ran');
      assert.equal(slurm.byName[name]!.key, local.byName[name]!.key, `key of ${name}`);
      const a = record(ws.path('cache-slurm'), slurm.byName[name]!.key);
      const b = record(ws.path('cache-local'), local.byName[name]!.key);
      assert.equal(a.output.tree, b.output.tree, `output of ${name}`);
      assert.equal(b.slurm, undefined);
    }
    const numbers = record(ws.path('cache-slurm'), slurm.byName.numbers!.key);
    assert.match(numbers.slurm!.jobId, /^\d+$/);
    assert.equal(numbers.slurm!.node, hostname().split('.')[0]);
    assert.deepEqual(numbers.slurm!.resources, { cpus: 1, mem: '200M', time: 5 });
    const job = scontrolJob(numbers.slurm!.jobId);
    assert.match(job, /JobName=gpt2o-numbers /);
    assert.match(job, /JobState=COMPLETED /);
    assert.match(job, /MinMemoryNode=200M /);
    // `both` says executor: local, so it ran in the head process.
    assert.equal(record(ws.path('cache-slurm'), slurm.byName.both!.key).slurm, undefined);
    assert.equal(ws.read('runs/pipeline/both/both.txt'), '1\n2\n3\n4\na\nb\n');

    // A second run serves everything from the cache: nothing is submitted.
    const again = await runJsonBin(ws, ['--executor', 'slurm', '--set', 'n=4', '--cache', 'cache-slurm']);
    assert.deepEqual(
      again.json.stages.map((s) => s.status),
      ['cached', 'cached', 'cached'],
    );
  });

  test('a failing stage on Slurm exits 1 naming FAILED, the job id and its log', async () => {
    ws.write(
      'fail.yaml',
      `executor: slurm
stages:
  broken:
    cmd: echo "about to break" && exit 3
    outs: [x.txt]
`,
    );
    const r = await execCli(ws.dir, ['run', 'fail.yaml', '--cache', 'cache-fail']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /stage "broken": Slurm job \d+ FAILED \(exit 1:0\)/);
    assert.match(r.stderr, /about to break/);
  });

  test('two experiments sharing upstream stages submit each shared stage once', async () => {
    ws.write(
      'shared.yaml',
      `executor: slurm
params: {tag: a}
stages:
  base:
    cmd: sleep 2 && echo base > base.txt
    outs: [base.txt]
  top:
    cmd: cat base.txt > top.txt && echo \${tag} >> top.txt
    deps: [base.txt]
    outs: [top.txt]
`,
    );
    ws.write('shared-b.yaml', 'extends: shared.yaml\nparams: {tag: b}\n');
    const [a, b] = await Promise.all([
      runJsonBin(ws, ['shared.yaml', '--cache', 'cache-shared']),
      runJsonBin(ws, ['shared-b.yaml', '--cache', 'cache-shared']),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(a.byName.base!.key, b.byName.base!.key);
    assert.notEqual(a.byName.top!.key, b.byName.top!.key);
    // One job per distinct key: base once, top twice.
    // This cluster is the test's own: every job it ever ran is listed (MinJobAge keeps them 300 s).
    const jobs = execFileSync('scontrol', ['show', 'job', '-o'], { encoding: 'utf8' }).split('\n');
    const count = (name: string) => jobs.filter((l) => l.includes(`JobName=gpt2o-${name} `)).length;
    assert.equal(count('base'), 1, jobs.join('\n'));
    assert.equal(count('top'), 2);
  });

  test('a sweep on Slurm submits its variants together and each shared stage once', async () => {
    ws.write(
      'sweep.yaml',
      `executor: slurm
params: {tag: a}
stages:
  sweepbase:
    cmd: sleep 2 && echo base > base.txt
    outs: [base.txt]
  sweeptop:
    cmd: cat base.txt > top.txt && echo \${tag} >> top.txt
    deps: [base.txt]
    outs: [top.txt]
`,
    );
    const r = await execCli(ws.dir, [
      'run',
      'sweep.yaml',
      '--sweep',
      'tag=a,b,c',
      '--jobs',
      '3',
      '--cache',
      'cache-sweep',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as { executions: number; variants: { name: string; state: string }[] };
    assert.deepEqual(
      json.variants.map((v) => [v.name, v.state]),
      [
        ['sweep.tag-a', 'done'],
        ['sweep.tag-b', 'done'],
        ['sweep.tag-c', 'done'],
      ],
    );
    assert.equal(json.executions, 4);
    assert.equal(ws.read('runs/sweep.tag-b/sweeptop/top.txt'), 'base\nb\n');
    const jobs = execFileSync('scontrol', ['show', 'job', '-o'], { encoding: 'utf8' }).split('\n');
    const count = (name: string) => jobs.filter((l) => l.includes(`JobName=gpt2o-${name} `)).length;
    assert.equal(count('sweepbase'), 1, jobs.join('\n'));
    assert.equal(count('sweeptop'), 3);
  });

  test('Ctrl-C cancels the stage job', async () => {
    ws.write(
      'slow.yaml',
      `executor: slurm
stages:
  slow:
    cmd: sleep 120 && touch done.txt
    outs: [done.txt]
`,
    );
    const child = spawnCli(ws.dir, ['run', 'slow.yaml', '--cache', 'cache-slow']);
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let jobId = '';
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const out = execFileSync('squeue', ['-h', '-n', 'gpt2o-slow', '-t', 'RUNNING', '-o', '%i'], {
        encoding: 'utf8',
      }).trim();
      if (out) {
        jobId = out.split('\n')[0]!;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(jobId, 'the slow stage job never started running');
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(await settledJob(jobId), /JobState=CANCELLED/);
    assert.match(stderr, /stage "slow" was interrupted/);
  });
  test('a stage over its time limit fails with TIMEOUT', { timeout: 240_000 }, async () => {
    ws.write(
      'timeout.yaml',
      `executor: slurm
stages:
  long:
    cmd: sleep 300 && touch done.txt
    outs: [done.txt]
    resources: { time: 1 }
`,
    );
    // Slurm enforces limits on a 30 s tick: a 1-minute job ends 60-90 s after it starts.
    const r = await execCli(ws.dir, ['run', 'timeout.yaml', '--cache', 'cache-timeout']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /stage "long": Slurm job \d+ TIMEOUT/);
  });
});
