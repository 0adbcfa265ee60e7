// `--executor slurm` puts every stage of a run, or of a whole sweep, into the queue at once: a
// dependent as a job that starts after its upstream jobs (afterok), computing its key when it
// starts. Against a real one-node cluster (test/slurm/start.sh), like slurm.test.ts. Each first
// stage waits for a gate file the test creates, so "before the first finishes" is a fact, not a
// race: the queue is read while the gate is closed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeWorkspace, startCli, type Workspace } from '../../helpers/workspace.ts';
import { allJobs, field, jobsOf, settledJob, startCluster } from '../cluster-helpers.ts';

/** A shell loop that returns once `gate` exists. */
const waitFor = (gate: string) => `while [ ! -e ${gate} ]; do sleep 0.2; done`;

const id = (record: string) => field(record, 'JobId')!;

function slurmJobOfRecord(cache: string, key: string): string | undefined {
  const path = join(cache, 'actions', key.slice(0, 2), `${key}.json`);
  return (JSON.parse(readFileSync(path, 'utf8')) as { slurm?: { jobId: string } }).slurm?.jobId;
}

describe('slurm executor: every stage submitted at once', () => {
  let ws: Workspace;
  let stopCluster: (() => void) | undefined;

  before(() => {
    stopCluster = startCluster();
    ws = makeWorkspace({});
  });

  after(() => {
    stopCluster?.();
    ws?.remove();
  });

  test('a 3-stage chain is in the queue before its first stage finishes, each job after the one it needs', async () => {
    const gate = ws.path('gate-chain');
    ws.write(
      'chain.yaml',
      `executor: slurm
stages:
  chain1:
    cmd: ${waitFor(gate)}; seq 3 > one.txt
    outs: [one.txt]
  chain2:
    cmd: cat one.txt > two.txt && echo two >> two.txt
    deps: [one.txt]
    outs: [two.txt]
  chain3:
    cmd: cat two.txt > three.txt && echo three >> three.txt
    deps: [two.txt]
    outs: [three.txt]
`,
    );
    // squeue as the head sees it: the real one, each call's arguments logged.
    const squeueLog = ws.path('squeue-calls.txt');
    const realSqueue = execFileSync('sh', ['-c', 'command -v squeue'], { encoding: 'utf8' }).trim();
    ws.write('bin/squeue', `#!/bin/sh\necho "$*" >> ${squeueLog}\nexec ${realSqueue} "$@"\n`);
    chmodSync(ws.path('bin/squeue'), 0o755);
    const PATH = `${ws.path('bin')}:${process.env.PATH}`;
    const run = startCli(ws.dir, ['run', 'chain.yaml', '--cache', 'cache-chain', '--json'], { PATH });
    const [three] = await jobsOf('chain3', 1);
    assert.ok(three, 'chain3 was never submitted');
    const [one] = await jobsOf('chain1', 1);
    const [two] = await jobsOf('chain2', 1);
    // Read while the gate is closed: chain1 has not finished, and the dependents wait on Slurm.
    assert.match(field(one!, 'JobState')!, /^(PENDING|CONFIGURING|RUNNING)$/, one);
    assert.equal(field(two!, 'JobState'), 'PENDING', two);
    assert.equal(field(three, 'JobState'), 'PENDING', three);
    assert.match(two!, new RegExp(`\\sDependency=afterok:${id(one!)}[(]`), two);
    assert.match(three, new RegExp(`\\sDependency=afterok:${id(two!)}[(]`), three);
    // The head follows the three jobs with one squeue call for all of them (its polls fall due
    // together), not one call per job.
    const ids = [one!, two!, three].map(id);
    const calls = () => (existsSync(squeueLog) ? readFileSync(squeueLog, 'utf8') : '');
    const asksAll = () =>
      calls()
        .split('\n')
        .some((line) => {
          const asked = /-j (\S+)/.exec(line)?.[1]?.split(',') ?? [];
          return ids.every((i) => asked.includes(i));
        });
    const deadline = Date.now() + 60_000;
    while (!asksAll() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.ok(asksAll(), `no squeue call asked about jobs ${ids.join(', ')} together:\n${calls()}`);
    writeFileSync(gate, '');

    const r = await run.finished;
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as { stages: { name: string; status: string; key: string }[] };
    assert.deepEqual(
      json.stages.map((s) => [s.name, s.status]),
      [
        ['chain1', 'ran'],
        ['chain2', 'ran'],
        ['chain3', 'ran'],
      ],
    );
    // Each stage's result was committed by the job the head submitted for it, under its real key.
    assert.deepEqual(
      json.stages.map((s) => slurmJobOfRecord(ws.path('cache-chain'), s.key)),
      [id(one!), id(two!), id(three)],
    );
    assert.equal(ws.read('runs/chain/chain3/three.txt'), '1\n2\n3\ntwo\nthree\n');
  });

  test('a sweep submits all its jobs at once: a stage shared before its key is known is one job', async () => {
    const gate = ws.path('gate-sweep');
    // swmid's key depends on swbase's output, unknown at submission, and is the same in every
    // variant; swtop differs per variant.
    ws.write(
      'ahead.yaml',
      `executor: slurm
params: {tag: a}
stages:
  swbase:
    cmd: ${waitFor(gate)}; echo base > base.txt
    outs: [base.txt]
  swmid:
    cmd: cat base.txt > mid.txt && echo mid >> mid.txt
    deps: [base.txt]
    outs: [mid.txt]
  swtop:
    cmd: cat mid.txt > top.txt && echo \${tag} >> top.txt
    deps: [mid.txt]
    outs: [top.txt]
`,
    );
    // --jobs 1 bounds what runs here, not what is submitted.
    const args = ['run', 'ahead.yaml', '--sweep', 'tag=a,b,c', '--jobs', '1', '--cache', 'cache-ahead'];
    const run = startCli(ws.dir, [...args, '--json']);
    const tops = await jobsOf('swtop', 3);
    assert.equal(tops.length, 3, tops.join('\n'));
    const bases = await jobsOf('swbase', 1);
    const mids = await jobsOf('swmid', 1);
    assert.equal(bases.length, 1, bases.join('\n'));
    assert.equal(mids.length, 1, mids.join('\n'));
    assert.match(field(bases[0]!, 'JobState')!, /^(PENDING|CONFIGURING|RUNNING)$/);
    assert.match(mids[0]!, new RegExp(`\\sDependency=afterok:${id(bases[0]!)}[(]`));
    for (const top of tops) assert.match(top, new RegExp(`\\sDependency=afterok:${id(mids[0]!)}[(]`), top);
    writeFileSync(gate, '');

    const r = await run.finished;
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as { executions: number; variants: { name: string; state: string }[] };
    assert.deepEqual(
      json.variants.map((v) => [v.name, v.state]),
      [
        ['ahead.tag-a', 'done'],
        ['ahead.tag-b', 'done'],
        ['ahead.tag-c', 'done'],
      ],
    );
    assert.equal(json.executions, 5);
    assert.equal(ws.read('runs/ahead.tag-b/swtop/top.txt'), 'base\nmid\nb\n');
    // Nothing was submitted after the first look: still one base, one mid, three tops.
    const count = (stage: string) => allJobs().filter((l) => l.includes(` JobName=gpt2o-${stage} `)).length;
    assert.deepEqual([count('swbase'), count('swmid'), count('swtop')], [1, 1, 3]);
  });

  test('a failed upstream job: Slurm cancels its dependents unrun, reported as upstream failed in that variant only', async () => {
    const gate = ws.path('gate-fail');
    ws.write(
      'fails.yaml',
      `executor: slurm
params: {tag: a}
stages:
  fbase:
    cmd: ${waitFor(gate)}; test \${tag} != b && echo \${tag} > base.txt
    outs: [base.txt]
  fmid:
    cmd: cat base.txt > mid.txt
    deps: [base.txt]
    outs: [mid.txt]
  ftop:
    cmd: cat mid.txt > top.txt
    deps: [mid.txt]
    outs: [top.txt]
`,
    );
    const run = startCli(ws.dir, [
      'run',
      'fails.yaml',
      '--sweep',
      'tag=a,b,c',
      '--cache',
      'cache-fails',
      '--json',
    ]);
    assert.equal((await jobsOf('ftop', 3)).length, 3);
    writeFileSync(gate, '');
    const r = await run.finished;
    assert.equal(r.code, 1, r.stderr);
    const json = JSON.parse(r.stdout) as {
      variants: {
        name: string;
        state: string;
        stages: { name: string; status: string; reason?: string }[];
      }[];
    };
    const b = json.variants.find((v) => v.name === 'fails.tag-b')!;
    assert.deepEqual(
      b.stages.map((s) => [s.name, s.status, s.reason]),
      [
        ['fbase', 'failed', undefined],
        ['fmid', 'skipped', 'upstream "fbase" failed'],
        ['ftop', 'skipped', 'upstream "fmid" was skipped'],
      ],
    );
    assert.deepEqual(
      json.variants.map((v) => [v.name, v.state]),
      [
        ['fails.tag-a', 'done'],
        ['fails.tag-b', 'failed'],
        ['fails.tag-c', 'done'],
      ],
    );
    assert.match(r.stderr, /stage "fbase": Slurm job \d+ FAILED/);
    // b's dependents were cancelled by Slurm before they ever started: Slurm creates a job's log
    // when it starts, and there is none.
    const failedBase = (await jobsOf('fbase', 3)).find((l) => field(l, 'JobState') === 'FAILED')!;
    const bMid = (await jobsOf('fmid', 3)).find((l) => l.includes(`Dependency=afterok:${id(failedBase)}(`));
    assert.ok(bMid, 'no fmid job after the failed fbase job');
    const bTop = (await jobsOf('ftop', 3)).find((l) => l.includes(`Dependency=afterok:${id(bMid)}(`))!;
    for (const job of [bMid, bTop]) {
      const settled = await settledJob(id(job));
      assert.equal(field(settled, 'JobState'), 'CANCELLED', settled);
      assert.equal(field(settled, 'Reason'), 'DependencyNeverSatisfied', settled);
      const stage = field(job, 'JobName')!.replace('gpt2o-', '');
      assert.equal(existsSync(ws.path(`cache-fails/logs/slurm-${stage}-${id(job)}.log`)), false);
    }
  });

  test('Ctrl-C cancels every job the run submitted', async () => {
    const gate = ws.path('gate-never');
    ws.write(
      'stop.yaml',
      `executor: slurm
stages:
  stop1:
    cmd: ${waitFor(gate)}; echo 1 > one.txt
    outs: [one.txt]
  stop2:
    cmd: cat one.txt > two.txt
    deps: [one.txt]
    outs: [two.txt]
  stop3:
    cmd: cat two.txt > three.txt
    deps: [two.txt]
    outs: [three.txt]
`,
    );
    const run = startCli(ws.dir, ['run', 'stop.yaml', '--cache', 'cache-stop']);
    const ids = [];
    for (const stage of ['stop3', 'stop1', 'stop2']) {
      const [job] = await jobsOf(stage, 1);
      assert.ok(job, `${stage} was never submitted`);
      ids.push(id(job));
    }
    run.child.kill('SIGINT');
    const r = await run.finished;
    assert.equal(r.code, 130, r.stderr);
    for (const jobId of ids) assert.match(await settledJob(jobId), /JobState=CANCELLED/);
    const queued = execFileSync('squeue', ['-h', '-j', ids.join(','), '-o', '%i %T'], { encoding: 'utf8' });
    assert.equal(queued.trim(), '');
    assert.match(r.stderr, /stage "stop1" was interrupted/);
  });
});
