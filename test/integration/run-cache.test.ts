// The core promise: the first run runs everything, the second serves everything from the cache,
// and a change reruns exactly the stages it can affect — no more, no less.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, countLines, makeWorkspace, runJson, type Workspace } from '../helpers/workspace.ts';

/** A 5-stage chain; each stage appends its name to a counter file so we can count real executions. */
function linearPipeline(counter: string): string {
  return `
params:
  counter: ${counter}
  a: 1
  b: 2
  c: 3
  parity_of: 10
stages:
  s1:
    cmd: echo "a=\${a}" > s1.txt && echo s1 >> \${counter}
    outs: [s1.txt]
  s2:
    cmd: cat s1.txt > s2.txt && echo "b=\${b}" >> s2.txt && echo s2 >> \${counter}
    deps: [s1.txt]
    outs: [s2.txt]
  s3:
    cmd: cat s2.txt > s3.txt && echo "c=\${c}" >> s3.txt && echo $(( \${parity_of} % 2 )) >> s3.txt && echo s3 >> \${counter}
    deps: [s2.txt]
    outs: [s3.txt]
  s4:
    cmd: sort s3.txt > s4.txt && echo s4 >> \${counter}
    deps: [s3.txt]
    outs: [s4.txt]
  s5:
    cmd: cat s4.txt s4.txt > s5.txt && echo s5 >> \${counter}
    deps: [s4.txt]
    outs: [s5.txt]
`;
}

describe('run and the cache', () => {
  let ws: Workspace;
  const runs = (stage: string) => countLines(ws.path('counter.txt'), stage);

  before(() => {
    ws = makeWorkspace({});
    ws.write('pipeline.yaml', linearPipeline(ws.path('counter.txt')));
  });
  after(() => ws.remove());

  test('the first run runs every stage and publishes outputs under runs/', async () => {
    const { code, status, json } = await runJson(ws.dir);
    assert.equal(code, 0);
    assert.equal(json.ok, true);
    assert.deepEqual(status, { s1: 'ran', s2: 'ran', s3: 'ran', s4: 'ran', s5: 'ran' });
    assert.equal(ws.read('runs/pipeline/s3/s3.txt'), 'a=1\nb=2\nc=3\n0\n');
    assert.equal(ws.read('runs/pipeline/s5/s5.txt'), '0\na=1\nb=2\nc=3\n'.repeat(2));
    assert.equal(runs('s1'), 1);
  });

  test('the second run serves every stage from the cache and executes nothing', async () => {
    const { status } = await runJson(ws.dir);
    assert.deepEqual(status, { s1: 'cached', s2: 'cached', s3: 'cached', s4: 'cached', s5: 'cached' });
    assert.equal(countLines(ws.path('counter.txt')), 5);
  });

  test('a param used only by stage 3 reruns stages 3-5 and nothing else', async () => {
    const { status } = await runJson(ws.dir, ['--set', 'c=30']);
    assert.deepEqual(status, { s1: 'cached', s2: 'cached', s3: 'ran', s4: 'ran', s5: 'ran' });
    assert.equal(ws.read('runs/pipeline/s3/s3.txt'), 'a=1\nb=2\nc=30\n0\n');
    assert.deepEqual([runs('s1'), runs('s2'), runs('s3'), runs('s4'), runs('s5')], [1, 1, 2, 2, 2]);
  });

  test('a rerun that yields identical bytes leaves its dependents cached (early cutoff)', async () => {
    // parity_of 10 -> 12: s3 reruns (its command changed) but writes the same bytes (12 % 2 is
    // still 0), so s4 and s5 stay cached.
    const { status } = await runJson(ws.dir, ['--set', 'c=30', '--set', 'parity_of=12']);
    assert.deepEqual(status, { s1: 'cached', s2: 'cached', s3: 'ran', s4: 'cached', s5: 'cached' });
    assert.deepEqual([runs('s3'), runs('s4'), runs('s5')], [3, 2, 2]);
  });

  test('--dry-run runs nothing and reports what would run', async () => {
    const before = countLines(ws.path('counter.txt'));
    const { code, status, json } = await runJson(ws.dir, ['--set', 'b=5', '--dry-run']);
    assert.equal(code, 0);
    assert.deepEqual(status, {
      s1: 'cached',
      s2: 'would-run',
      s3: 'would-run',
      s4: 'would-run',
      s5: 'would-run',
    });
    assert.equal(json.stages.find((s) => s.name === 's2')?.key?.length, 32);
    assert.equal(countLines(ws.path('counter.txt')), before);
  });

  test('status names the changed param with its old and new value', async () => {
    await runJson(ws.dir);
    const { stdout, code } = await cli(ws.dir, ['status', 'pipeline.yaml', '--set', 'b=7', '--json']);
    assert.equal(code, 0);
    const stages = JSON.parse(stdout).experiments[0].stages as {
      name: string;
      state: string;
      reasons: string[];
    }[];
    const byName = Object.fromEntries(stages.map((s) => [s.name, s])) as Record<
      string,
      (typeof stages)[number]
    >;
    assert.equal(byName.s1!.state, 'up-to-date');
    assert.equal(byName.s2!.state, 'stale');
    assert.deepEqual(byName.s2!.reasons, ['param b: 2 -> 7']);
    assert.equal(byName.s3!.state, 'stale');
    assert.deepEqual(byName.s3!.reasons, ['upstream s2 is stale']);
    const human = await cli(ws.dir, ['status', 'pipeline.yaml', '--set', 'b=7']);
    assert.match(human.stdout, /s2\s+stale\n\s+param b: 2 -> 7/);
  });

  test('naming a stage runs only it and what it needs', async () => {
    const { status } = await runJson(ws.dir, ['pipeline.yaml', 's2', '--set', 'a=9']);
    assert.deepEqual(status, { s1: 'ran', s2: 'ran' });
  });

  test('--force reruns a cached stage', async () => {
    const before = runs('s4');
    const { status } = await runJson(ws.dir, ['--force', 's4']);
    assert.equal(status.s4, 'ran');
    assert.equal(runs('s4'), before + 1);
    assert.equal(status.s5, 'cached');
  });
});

describe('a fully cached run reads no record or manifest it validated before', () => {
  // The memo lives in this user's cache folder (the test helpers point it at a temp folder).
  const memo = (): Record<string, [number, number, number, number, unknown]> =>
    Object.assign(
      {},
      ...readdirSync(process.env.GPT2O_VALIDATED_CACHE!).map((name) =>
        JSON.parse(readFileSync(join(process.env.GPT2O_VALIDATED_CACHE!, name), 'utf8')),
      ),
    );

  test('a second run takes them from the memo; a record rewritten in place is read again', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': 'stages:\n  a:\n    cmd: echo hi > a.txt\n    outs: [a.txt]\n',
    });
    try {
      const first = await runJson(ws.dir);
      const key = first.json.stages[0]!.key!;
      const recordFile = ws.path(`cache/actions/${key.slice(0, 2)}/${key}.json`);
      const record = JSON.parse(readFileSync(recordFile, 'utf8'));
      const tree = record.output.tree as string;
      // Files changed in the last 2 s are not remembered (a rewrite in the same timestamp tick).
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      assert.equal((await runJson(ws.dir)).status.a, 'cached');
      const remembered = memo();
      // Of a record, only what serving needs is kept.
      assert.deepEqual(remembered[recordFile]?.[4], { key, output: record.output, warnings: [] });
      const manifestFile = ws.path(`cache/objects/${tree.slice(0, 2)}/${tree}`);
      assert.deepEqual(remembered[manifestFile]?.[4], JSON.parse(readFileSync(manifestFile, 'utf8')));

      // Same key, other content: the file's stat changed, so the memo does not answer for it.
      writeFileSync(recordFile, JSON.stringify({ ...record, warnings: ['planted after the run'] }));
      const status = await cli(ws.dir, ['status', '--json']);
      const stages = JSON.parse(status.stdout).experiments[0].stages as {
        name: string;
        warnings: string[];
      }[];
      assert.deepEqual(stages[0]!.warnings, ['planted after the run']);
    } finally {
      ws.remove();
    }
  });
});
