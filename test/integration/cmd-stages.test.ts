// cmd: stages as a user writes them: params reach the shell as literal text, deps and upstream
// outputs are visible in a private scratch folder, and failures are reported and contained.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, makeWorkspace, runJson } from '../helpers/workspace.ts';

function recordsIn(cache: string): string[] {
  const dir = join(cache, 'actions');
  return existsSync(dir)
    ? readdirSync(dir, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.json'))
    : [];
}

describe('cmd stages', () => {
  test('a param value with shell syntax is passed literally in every quote context', async () => {
    const marker = `/tmp/gpt2o-pwned-${process.pid}`;
    rmSync(marker, { force: true });
    const ws = makeWorkspace({
      'pipeline.yaml': `params:
  evil: "x; touch ${marker}"
  sub: "$(touch ${marker})\`touch ${marker}\`'\\""
stages:
  plain:
    cmd: printf '%s\\n' \${evil} \${sub} > plain.txt
    outs: [plain.txt]
  quoted:
    cmd: echo "[\${evil}] [\${sub}]" > double.txt && echo '['\${evil}'] ['\${sub}']' > single.txt
    outs: [double.txt, single.txt]
`,
    });
    try {
      const { code } = await runJson(ws.dir);
      assert.equal(code, 0);
      assert.equal(existsSync(marker), false, 'the param was executed by the shell');
      const sub = `$(touch ${marker})\`touch ${marker}\`'"`;
      assert.equal(ws.read('runs/pipeline/plain/plain.txt'), `x; touch ${marker}\n${sub}\n`);
      assert.equal(ws.read('runs/pipeline/quoted/double.txt'), `[x; touch ${marker}] [${sub}]\n`);
      assert.equal(ws.read('runs/pipeline/quoted/single.txt'), `[x; touch ${marker}] [${sub}]\n`);
    } finally {
      ws.remove();
    }
  });

  test('a --set value inside "$(…)" reaches the command as text (issue 13, item 2)', async () => {
    const marker = `/tmp/gpt2o-pwned-set-${process.pid}`;
    rmSync(marker, { force: true });
    const ws = makeWorkspace({
      'pipeline.yaml': `params: {name: run1}
stages:
  a: {cmd: 'echo "$(basename \${name})" > o', outs: [o]}
`,
    });
    try {
      const { code, stderr } = await runJson(ws.dir, ['--set', `name=x; touch ${marker}`]);
      assert.equal(code, 0, stderr);
      assert.equal(existsSync(marker), false, 'the --set value was executed by the shell');
      assert.equal(ws.read('runs/pipeline/a/o'), `gpt2o-pwned-set-${process.pid}\n`);
      // The key depends on the value: another value reruns the stage.
      assert.equal((await runJson(ws.dir, ['--set', 'name=run2'])).status.a, 'ran');
      assert.equal((await runJson(ws.dir, ['--set', `name=x; touch ${marker}`])).status.a, 'cached');
    } finally {
      ws.remove();
    }
  });

  test('a ref in a context the shell would re-read is refused at load, located at the cmd', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml':
        'params: {p: x}\nstages:\n  a:\n    cmd: awk \'BEGIN { print "${p}" }\' > o\n    outs: [o]\n',
    });
    try {
      const { code, stderr } = await cli(ws.dir, ['run']);
      assert.equal(code, 2);
      assert.match(stderr, /pipeline\.yaml:4:10 error E_SPEC_CMD_PARAM \(stage "a"\)/);
      assert.match(stderr, /\$\{p\} is inside '…' \(single quotes\)/);
      assert.match(stderr, /hint: .*GPT2O_P_|hint: .*environment variable/);
      assert.equal(existsSync(ws.path('cache')), false, 'a refused spec wrote a cache');
    } finally {
      ws.remove();
    }
  });

  test('deps are linked into the scratch folder and edits to them rerun the stage', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  upper:
    cmd: sh scripts/upper.sh data/words.txt > out/upper.txt
    deps: [scripts/upper.sh, data]
    outs: [out/upper.txt]
`,
      'scripts/upper.sh': 'tr a-z A-Z < "$1"\n',
      'data/words.txt': 'hello\n',
    });
    try {
      assert.equal((await runJson(ws.dir)).status.upper, 'ran');
      assert.equal(ws.read('runs/pipeline/upper/out/upper.txt'), 'HELLO\n');
      assert.equal((await runJson(ws.dir)).status.upper, 'cached');
      ws.write('data/words.txt', 'world\n');
      assert.equal((await runJson(ws.dir)).status.upper, 'ran');
      assert.equal(ws.read('runs/pipeline/upper/out/upper.txt'), 'WORLD\n');
      const status = await cli(ws.dir, ['status', 'pipeline.yaml']);
      assert.match(status.stdout, /upper\s+up-to-date/);
      ws.write('scripts/upper.sh', 'tr a-z A-Z < "$1" | sed s/^/:/\n');
      const stale = await cli(ws.dir, ['status', 'pipeline.yaml', '--json']);
      assert.deepEqual(JSON.parse(stale.stdout).experiments[0].stages[0].reasons, [
        'dep scripts/upper.sh changed',
      ]);
      assert.equal((await runJson(ws.dir)).status.upper, 'ran');
      assert.equal(ws.read('runs/pipeline/upper/out/upper.txt'), ':WORLD\n');
    } finally {
      ws.remove();
    }
  });

  test('a failed stage exits 1, skips its dependents, keeps finished siblings and shows its log', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  good:
    cmd: echo ok > good.txt
    outs: [good.txt]
  bad:
    cmd: echo "about to fail" && echo "no such thing" >&2 && exit 3
    needs: [good]
    outs: [bad.txt]
  after:
    cmd: cat bad.txt > after.txt
    deps: [bad.txt]
    outs: [after.txt]
`,
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.equal(r.json.ok, false);
      assert.deepEqual(r.status, { good: 'ran', bad: 'failed', after: 'skipped' });
      assert.match(
        r.stderr,
        /error E_STAGE_COMMAND \(stage "bad"\)\n {2}stage "bad": command exited with code 3/,
      );
      assert.match(r.stderr, /\| about to fail\n\s+\| no such thing/);
      assert.match(r.stderr, /skipped because of it: after/);
      assert.match(r.stderr, /resume with: gpt2o-pipe run pipeline\.yaml/);
      // Nothing of the failed stage is cached: the next run tries it again, and good stays cached.
      const again = await runJson(ws.dir);
      assert.deepEqual(again.status, { good: 'cached', bad: 'failed', after: 'skipped' });
      assert.deepEqual(readdirSync(ws.path('cache/tmp')), []);
    } finally {
      ws.remove();
    }
  });

  test('a declared out the command did not write fails the stage and caches nothing', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': 'stages:\n  s:\n    cmd: echo hi > other.txt\n    outs: [wanted.txt]\n',
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /pipeline\.yaml:4:12 error E_STAGE_MISSING_OUT \(stage "s"\)/);
      assert.match(r.stderr, /did not write its declared out "wanted\.txt"/);
      assert.deepEqual(recordsIn(ws.path('cache')), []);
    } finally {
      ws.remove();
    }
  });

  test('files written outside the declared outs are reported and not cached', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': 'stages:\n  s:\n    cmd: echo a > a.txt && echo b > stray.txt\n    outs: [a.txt]\n',
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0);
      assert.match(r.stderr, /warning: wrote files outside its declared outs \(not kept\): stray\.txt/);
      assert.deepEqual(readdirSync(ws.path('runs/pipeline/s')), ['a.txt']);
    } finally {
      ws.remove();
    }
  });

  test('outs hard-linked to project files are copied into the cache, never moved or locked', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  s:
    cmd: mkdir -p out && cp data/a.txt out/a.txt && ln data/b.txt out/b-hard.txt && echo own > out/own.txt
    deps: [data]
    outs: [out]
`,
      'data/a.txt': 'alpha\n',
      'data/b.txt': 'beta\n',
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0, r.stderr);
      // The project's files are where they were, writable, with their content.
      assert.equal(ws.read('data/a.txt'), 'alpha\n');
      assert.equal(ws.read('data/b.txt'), 'beta\n');
      assert.equal(statSync(ws.path('data/b.txt')).mode & 0o200, 0o200);
      assert.equal(statSync(ws.path('data/b.txt')).nlink, 1);
      // The output holds copies.
      assert.equal(ws.read('runs/pipeline/s/out/a.txt'), 'alpha\n');
      assert.equal(ws.read('runs/pipeline/s/out/b-hard.txt'), 'beta\n');
      assert.equal(ws.read('runs/pipeline/s/out/own.txt'), 'own\n');
    } finally {
      ws.remove();
    }
  });

  test('a missing dep fails the stage with its location', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': 'stages:\n  s:\n    cmd: cat in.txt > o\n    deps: [in.txt]\n    outs: [o]\n',
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /pipeline\.yaml:4:12 error E_DEP_MISSING \(stage "s"\)\n {2}dep "in\.txt" of stage "s" does not exist/,
      );
    } finally {
      ws.remove();
    }
  });

  test('experiments share cached stages and get their own runs/ folder', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `params:
  data: {n: 3}
  train: {context_length: 8}
stages:
  prepare:
    cmd: seq \${data.n} > data.txt
    outs: [data.txt]
  train:
    cmd: echo "ctx=\${train.context_length}" | cat - data.txt > model.txt
    deps: [data.txt]
    outs: [model.txt]
`,
      'experiments/small.yaml': 'extends: ../pipeline.yaml\nparams:\n  train:\n    context_length: 16\n',
      'experiments/wide.yaml': 'extends: small.yaml\nparams:\n  train:\n    context_length: 32\n',
    });
    try {
      assert.deepEqual((await runJson(ws.dir, ['experiments/small.yaml'])).status, {
        prepare: 'ran',
        train: 'ran',
      });
      assert.deepEqual((await runJson(ws.dir, ['experiments/wide.yaml'])).status, {
        prepare: 'cached',
        train: 'ran',
      });
      assert.equal(ws.read('runs/small/train/model.txt'), 'ctx=16\n1\n2\n3\n');
      assert.equal(ws.read('runs/wide/train/model.txt'), 'ctx=32\n1\n2\n3\n');
      const status = JSON.parse((await cli(ws.dir, ['status', '--json'])).stdout);
      assert.deepEqual(
        status.experiments.map((e: { experiment: string }) => e.experiment),
        ['small', 'wide'],
      );
    } finally {
      ws.remove();
    }
  });
});
