// Sweeps on tiny cmd pipelines: each stage appends a line to a counter file when it finishes, so
// the test counts real executions (not log wording). The demo sweep is in demo-sweep.test.ts.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fixtureStages } from '../fixtures/stages/index.ts';
import { waitFor } from '../helpers/process.ts';
import { cli, makeWorkspace, startCli, type Workspace } from '../helpers/workspace.ts';

/** s1 is shared by every variant, s2 by the variants with the same `a`, s3 is each variant's own. */
function sweepProject(extra: Record<string, string> = {}): Workspace {
  const ws = makeWorkspace(extra);
  ws.write(
    'pipeline.yaml',
    `params: {a: null, b: x, counter: ${ws.path('counter.txt')}, started: ${ws.path('started')}, go: ${ws.path('go')}}
stages:
  s1:
    cmd: echo one > s1.txt && echo s1 >> \${counter}
    outs: [s1.txt]
  s2:
    cmd: >-
      test "\${a}" != bad &&
      if [ "\${a}" = slow ] && [ ! -e \${go} ]; then touch \${started}; sleep 30; fi &&
      cat s1.txt > s2.txt && echo "a=\${a}" >> s2.txt && echo "s2 a=\${a}" >> \${counter}
    deps: [s1.txt]
    outs: [s2.txt]
  s3:
    cmd: cat s2.txt > s3.txt && echo "b=\${b}" >> s3.txt && echo "s3 a=\${a} b=\${b}" >> \${counter}
    deps: [s2.txt]
    outs: [s3.txt]
`,
  );
  ws.write('experiments/e.yaml', 'extends: ../pipeline.yaml\n');
  return ws;
}

/** The counter file's lines, sorted (the order of parallel stages is not the test's business). */
function executions(ws: Workspace): string[] {
  const path = ws.path('counter.txt');
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').sort() : [];
}

interface SweepJson {
  sweep: string;
  ok: boolean;
  executions: number;
  params: string[];
  variants: {
    name: string;
    values: Record<string, unknown>;
    state: string;
    stages: { name: string; status: string; key: string | null }[];
  }[];
}

async function sweepJson(ws: Workspace, args: string[]) {
  const result = await cli(ws.dir, ['run', 'experiments/e.yaml', ...args, '--json']);
  try {
    return { ...result, json: JSON.parse(result.stdout) as SweepJson };
  } catch {
    throw new Error(`no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

describe('sweeps', () => {
  test('a 2×2 grid runs every shared stage key once, names its variants, and a rerun runs nothing', async () => {
    const ws = sweepProject();
    try {
      const first = await sweepJson(ws, ['--sweep', 'a=1,2', '--sweep', 'b=x,y', '--jobs', '4']);
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(
        first.json.variants.map((v) => [v.name, v.values, v.state]),
        [
          ['e.a-1.b-x', { a: 1, b: 'x' }, 'done'],
          ['e.a-1.b-y', { a: 1, b: 'y' }, 'done'],
          ['e.a-2.b-x', { a: 2, b: 'x' }, 'done'],
          ['e.a-2.b-y', { a: 2, b: 'y' }, 'done'],
        ],
      );
      // s1 once, s2 once per a, s3 once per variant: 1 + 2 + 4.
      assert.deepEqual(executions(ws), [
        's1',
        's2 a=1',
        's2 a=2',
        's3 a=1 b=x',
        's3 a=1 b=y',
        's3 a=2 b=x',
        's3 a=2 b=y',
      ]);
      assert.equal(first.json.executions, 7);
      assert.equal(first.json.params.join(), 'a,b');
      // Every variant is an experiment: its own runs/ folder with its own result.
      assert.equal(ws.read('runs/e.a-2.b-y/s3/s3.txt'), 'one\na=2\nb=y\n');
      assert.equal(ws.read('runs/e.a-1.b-x/s3/s3.txt'), 'one\na=1\nb=x\n');

      const again = await sweepJson(ws, ['--sweep', 'a=1,2', '--sweep', 'b=x,y']);
      assert.equal(again.json.executions, 0);
      assert.equal(executions(ws).length, 7);

      // `status SWEEP` lists its variants; a variant's own name works too.
      const status = await cli(ws.dir, ['status', 'e', '--json']);
      const listed = JSON.parse(status.stdout).experiments;
      assert.deepEqual(
        listed.map((e: { experiment: string }) => e.experiment),
        ['e.a-1.b-x', 'e.a-1.b-y', 'e.a-2.b-x', 'e.a-2.b-y'],
      );
      assert.ok(
        listed.every((e: { stages: { state: string }[] }) => e.stages.every((s) => s.state === 'up-to-date')),
      );
      const logs = await cli(ws.dir, ['logs', 'e.a-2.b-y', 's3']);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /GPT2O_P_b="y"/);
    } finally {
      ws.remove();
    }
  });

  test('compare SWEEP --json lists every variant with its values, and --by picks the best', async () => {
    // The tone fixture's metric "peak" depends on how many samples it writes: 1 → 0, 2 → 23170, 3 → 32767.
    const ws = makeWorkspace({
      'pipeline.yaml': `params: {n: 2}
stages:
  tone:
    uses: tone
    with: {frequency: 1000, samples: "\${n}"}
`,
      'experiments/t.yaml': 'extends: ../pipeline.yaml\n',
    });
    const run = (args: string[]) => cli(ws.dir, args, { registry: fixtureStages });
    try {
      const sweep = await run(['run', 'experiments/t.yaml', '--sweep', 'n=2,1,3', '--sweep-name', 'len']);
      assert.equal(sweep.code, 0, sweep.stderr);
      const compare = await run(['compare', 'len', '--json', '--by', 'tone.peak:max']);
      assert.equal(compare.code, 0, compare.stderr);
      const json = JSON.parse(compare.stdout);
      assert.deepEqual(json.sweep, {
        sweep: 'len',
        params: ['n'],
        variants: [
          { experiment: 't.n-2', values: { n: 2 }, finished: true },
          { experiment: 't.n-1', values: { n: 1 }, finished: true },
          { experiment: 't.n-3', values: { n: 3 }, finished: true },
        ],
      });
      assert.deepEqual(
        json.experiments.map((e: { experiment: string; stages: { metrics: { peak: number } }[] }) => [
          e.experiment,
          e.stages[0]!.metrics.peak,
        ]),
        [
          ['t.n-2', 23170],
          ['t.n-1', 0],
          ['t.n-3', 32767],
        ],
      );
      assert.deepEqual(json.by, { metric: 'tone.peak', direction: 'max', best: 't.n-3' });
      const min = JSON.parse((await run(['compare', 'len', '--json', '--by', 'tone.peak:min'])).stdout);
      assert.equal(min.by.best, 't.n-1');
      // "peak" says neither loss nor score: the direction must be given, not guessed.
      const unsure = await run(['compare', 'len', '--by', 'tone.peak']);
      assert.equal(unsure.code, 2);
      assert.match(unsure.stderr, /cannot tell whether higher or lower is better/);
      const table = await run(['compare', 'len', '--by', 'tone.peak:max']);
      assert.equal(
        table.stdout,
        [
          'sweep len: 3 variants, 3 with a finished run',
          '   variant  n  tone.peak',
          '   t.n-2    2     23,170',
          '   t.n-1    1          0',
          '*  t.n-3    3     32,767',
          'best by tone.peak (higher is better): t.n-3',
          '',
        ].join('\n'),
      );
    } finally {
      ws.remove();
    }
  });

  test('a failing variant leaves the others done; the summary names it and the exit code is 1', async () => {
    const ws = sweepProject();
    try {
      const result = await sweepJson(ws, ['--sweep', 'a=1,bad,2']);
      assert.equal(result.code, 1);
      assert.equal(result.json.ok, false);
      assert.deepEqual(
        result.json.variants.map((v) => [v.name, v.state]),
        [
          ['e.a-1', 'done'],
          ['e.a-bad', 'failed'],
          ['e.a-2', 'done'],
        ],
      );
      const bad = result.json.variants[1]!.stages;
      assert.deepEqual(
        bad.map((s) => [s.name, s.status]),
        [
          ['s1', 'cached'],
          ['s2', 'failed'],
          ['s3', 'skipped'],
        ],
      );
      assert.deepEqual(executions(ws), ['s1', 's2 a=1', 's2 a=2', 's3 a=1 b=x', 's3 a=2 b=x']);
      assert.match(result.stderr, /variant e\.a-bad:\n.*stage "s2"/);
      assert.match(result.stderr, /✖ e\.a-bad +3 stages: 0 ran, 1 cached, 1 failed, 1 skipped \(s2 failed\)/);
    } finally {
      ws.remove();
    }
  });

  test('Ctrl-C in the middle stops the sweep (exit 130); the rerun finishes it and runs no stage twice', async () => {
    const ws = sweepProject();
    const args = ['run', 'experiments/e.yaml', '--sweep', 'a=1,slow,2', '--sweep', 'b=x,y', '--jobs', '2'];
    try {
      const started = startCli(ws.dir, args);
      // Ctrl-C once every other stage has committed and the slow one runs: a stage whose command
      // had finished but was not yet committed at that instant would run again, by design. A
      // stage's end is reported after its commit, so the four fast variants' last stage reported
      // means all seven other executions are in the cache.
      const fastEnded = () =>
        ['e.a-1.b-x', 'e.a-1.b-y', 'e.a-2.b-x', 'e.a-2.b-y'].every((variant) =>
          new RegExp(`${variant.replaceAll('.', '\\.')}\\s+✔ s3 `).test(started.output().stdout),
        );
      await waitFor(
        () => existsSync(ws.path('started')) && executions(ws).length === 7 && fastEnded(),
        'the slow variant to be the only stage running',
        60_000,
      );
      started.child.kill('SIGINT');
      const { code, stderr } = await started.finished;
      assert.equal(code, 130, stderr);
      const before = executions(ws);
      assert.ok(!before.some((l) => l.includes('slow')), 'the stopped stage committed nothing');

      ws.write('go', ''); // the slow stage is fast from now on (same command, same key)
      const rerun = await cli(ws.dir, [...args.slice(0, -2), '--json']);
      assert.equal(rerun.code, 0, rerun.stderr);
      const after = executions(ws);
      // Every stage finished exactly once over both runs: no line twice, none missing.
      assert.equal(new Set(after).size, after.length, after.join('\n'));
      assert.deepEqual(after, [
        's1',
        's2 a=1',
        's2 a=2',
        's2 a=slow',
        's3 a=1 b=x',
        's3 a=1 b=y',
        's3 a=2 b=x',
        's3 a=2 b=y',
        's3 a=slow b=x',
        's3 a=slow b=y',
      ]);
      assert.equal(JSON.parse(rerun.stdout).executions, after.length - before.length);
    } finally {
      ws.remove();
    }
  });

  test('a sweep: block is checked at load: each problem is located at file:line:col', async () => {
    const ws = sweepProject();
    ws.write(
      'experiments/e.yaml',
      `extends: ../pipeline.yaml
sweep:
  grid:
    a: [1, 2]
    b: []
`,
    );
    try {
      const empty = await cli(ws.dir, ['run', 'experiments/e.yaml']);
      assert.equal(empty.code, 2);
      assert.match(
        empty.stderr,
        /experiments\/e\.yaml:5:5 error E_SWEEP_EMPTY\n {2}sweep\.grid\.b lists no values/,
      );

      ws.write(
        'experiments/e.yaml',
        'extends: ../pipeline.yaml\nsweep:\n  grid:\n    bb: [y, z]\n    b: [y, 3]\n',
      );
      const result = await cli(ws.dir, ['run', 'experiments/e.yaml']);
      assert.equal(result.code, 2);
      assert.match(
        result.stderr,
        /experiments\/e\.yaml:4:5 error E_SPEC_UNKNOWN_PARAM\n {2}unknown param "bb"/,
      );
      assert.match(result.stderr, /hint: did you mean "b"\?/);
      assert.match(
        result.stderr,
        /experiments\/e\.yaml:5:12 error E_SPEC_PARAM_TYPE\n {2}param "b" is a string/,
      );
      assert.equal(executions(ws).length, 0);

      ws.write(
        'experiments/e.yaml',
        'extends: ../pipeline.yaml\nsweep:\n  variants:\n    - {a: 5}\n    - {a: 5.0}\n',
      );
      const duplicate = await cli(ws.dir, ['run', 'experiments/e.yaml']);
      assert.equal(duplicate.code, 2);
      assert.match(
        duplicate.stderr,
        /experiments\/e\.yaml:5:7 error E_SWEEP_DUPLICATE\n {2}the sweep lists the variant a=5 twice/,
      );
    } finally {
      ws.remove();
    }
  });

  test('--sweep flags are checked before anything runs: unknown param, empty list, repeated value', async () => {
    const ws = sweepProject();
    try {
      const unknown = await cli(ws.dir, ['run', 'experiments/e.yaml', '--sweep', 'bb=1,2']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /--sweep bb=1: unknown param "bb"/);
      assert.match(unknown.stderr, /did you mean "b"\?/);
      const empty = await cli(ws.dir, ['run', 'experiments/e.yaml', '--sweep', 'a=']);
      assert.match(empty.stderr, /E_SWEEP_EMPTY\n {2}--sweep a= lists no values/);
      const twice = await cli(ws.dir, ['run', 'experiments/e.yaml', '--sweep', 'a=1,1.0']);
      assert.match(twice.stderr, /E_SWEEP_DUPLICATE\n {2}a lists the value 1 twice/);
      const kind = await cli(ws.dir, ['run', 'experiments/e.yaml', '--sweep', 'b=y,2']);
      assert.match(kind.stderr, /--sweep b=2: param "b" is a string/);
      assert.equal(executions(ws).length, 0);
      assert.ok(!existsSync(ws.path('runs')));
    } finally {
      ws.remove();
    }
  });
});
