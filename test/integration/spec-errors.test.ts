// Bad specs fail before anything runs: exit code 2, `file:line:col`, a code frame and a hint.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { cli, makeWorkspace } from '../helpers/workspace.ts';

async function runSpec(files: Record<string, string>, args: string[] = ['run']) {
  const ws = makeWorkspace(files);
  try {
    const result = await cli(ws.dir, args);
    return { ...result, cacheMade: existsSync(ws.path('cache/actions')) };
  } finally {
    ws.remove();
  }
}

describe('spec errors', () => {
  test('a cycle exits 2 and prints the cycle path at the offending line', async () => {
    const r = await runSpec({
      'pipeline.yaml': `stages:
  a:
    cmd: echo a > a
    needs: [c]
    outs: [a]
  b:
    cmd: echo b > b
    needs: [a]
    outs: [b]
  c:
    cmd: echo c > c
    needs: [b]
    outs: [c]
`,
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^pipeline\.yaml:4:13 error E_SPEC_CYCLE/m);
    assert.match(r.stderr, /the stages form a cycle: a -> c -> b -> a/);
    assert.match(r.stderr, / 4 \| {5}needs: \[c\]\n\s+\|\s{13}\^/);
    assert.equal(r.cacheMade, false);
  });

  test('an unknown ${param} exits 2 with file:line:col and a did-you-mean', async () => {
    const r = await runSpec({
      'pipeline.yaml': `params:
  train:
    context_length: 1024
stages:
  train:
    cmd: echo \${train.context_lenght} > out.txt
    outs: [out.txt]
`,
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^pipeline\.yaml:6:10 error E_SPEC_UNKNOWN_PARAM \(stage "train"\)/m);
    assert.match(r.stderr, /unknown param \$\{train\.context_lenght\}/);
    assert.match(r.stderr, /hint: did you mean \$\{train\.context_length\}\?/);
  });

  test('a YAML syntax error exits 2 with file:line:col', async () => {
    const r = await runSpec({ 'pipeline.yaml': 'params:\n  a: 1\n\tb: 2\nstages: {}\n' });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^pipeline\.yaml:3:1 error E_SPEC_YAML\n {2}YAML syntax error: Tabs are not allowed as indentation\n/m,
    );
  });

  test('${} inside a YAML flow mapping gets a hint about quoting', async () => {
    const r = await runSpec({
      'pipeline.yaml': 'params:\n  a: 1\nstages:\n  s:\n    uses: x\n    with: {n: ${a}}\n',
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^pipeline\.yaml:6:\d+ error E_SPEC_YAML/m);
    assert.match(r.stderr, /hint: inside a \{flow: mapping\} YAML reads "\{" as syntax: quote the value/);
  });

  test('duplicate stage names are rejected where the second one is', async () => {
    const r = await runSpec({ 'pipeline.yaml': 'stages:\n  a:\n    cmd: "true"\n  a:\n    cmd: "false"\n' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^pipeline\.yaml:4:3 error E_SPEC_DUPLICATE_KEY\n {2}duplicate key "a"/m);
  });

  test('unknown keys get a did-you-mean and all errors are reported at once, sorted by line', async () => {
    const r = await runSpec({
      'pipeline.yaml': `stages:
  a:
    cmd: echo > x
    outz: [x]
  b:
    cmd: echo > y
    needs: [aa]
`,
    });
    assert.equal(r.code, 2);
    const first = r.stderr.indexOf('pipeline.yaml:4:5 error E_SPEC_UNKNOWN_KEY');
    const second = r.stderr.indexOf('pipeline.yaml:7:13 error E_SPEC_UNKNOWN_STAGE');
    assert.ok(first >= 0 && second > first, r.stderr);
    assert.match(r.stderr, /did you mean "outs"\?/);
    assert.match(r.stderr, /did you mean "a"\?/);
  });

  test('self-dependency, unknown built-in stage and cmd+uses together are spec errors', async () => {
    const r = await runSpec({
      'pipeline.yaml': `stages:
  a:
    cmd: "true"
    needs: [a]
  b:
    uses: dowload
  c:
    cmd: "true"
    uses: download
`,
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /pipeline\.yaml:4:13 error E_SPEC_SELF_DEPENDENCY/);
    assert.match(r.stderr, /pipeline\.yaml:6:11 error E_SPEC_UNKNOWN_USES/);
    assert.match(r.stderr, /pipeline\.yaml:7:3 error E_SPEC_STAGE_KIND/);
  });

  test('a ${} loop between params is reported with the loop path', async () => {
    const r = await runSpec({
      'pipeline.yaml': 'params:\n  a: ${b}\n  b: x${a}\nstages:\n  s:\n    cmd: echo ${a}\n',
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /E_SPEC_INTERPOLATION_LOOP/);
    assert.match(r.stderr, /a -> b -> a/);
  });

  test('an experiment may only override params that exist, with the same type', async () => {
    const r = await runSpec(
      {
        'pipeline.yaml':
          'params:\n  train:\n    micro_batch: 8\nstages:\n  s:\n    cmd: echo ${train.micro_batch}\n',
        'experiments/small.yaml':
          'extends: ../pipeline.yaml\nparams:\n  train:\n    micro_bach: 4\n    micro_batch: four\n',
      },
      ['run', 'experiments/small.yaml'],
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /experiments\/small\.yaml:4:5 error E_SPEC_UNKNOWN_PARAM/);
    assert.match(r.stderr, /did you mean "train\.micro_batch"\?/);
    assert.match(r.stderr, /experiments\/small\.yaml:5:5 error E_SPEC_PARAM_TYPE/);
  });

  test('--set of an unknown param and a malformed --set are usage errors', async () => {
    const files = { 'pipeline.yaml': 'params:\n  lr: 0.1\nstages:\n  s:\n    cmd: echo ${lr}\n' };
    const unknown = await runSpec(files, ['run', '--set', 'lrr=1']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--set lrr=1: unknown param "lrr"/);
    const malformed = await runSpec(files, ['run', '--set', 'lr']);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /not of the form a\.b\.c=value/);
  });

  test('an experiment that extends itself is reported', async () => {
    const r = await runSpec(
      { 'experiments/a.yaml': 'extends: b.yaml\n', 'experiments/b.yaml': 'extends: a.yaml\n' },
      ['run', 'experiments/a.yaml'],
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /E_SPEC_EXTENDS_CYCLE/);
  });

  test('a missing spec file and an unknown command or flag exit 2', async () => {
    assert.equal((await runSpec({}, ['run', 'nope.yaml'])).code, 2);
    const unknownCommand = await runSpec({}, ['rnu']);
    assert.equal(unknownCommand.code, 2);
    assert.match(unknownCommand.stderr, /did you mean "run"\?/);
    assert.equal((await runSpec({ 'pipeline.yaml': 'stages: {}\n' }, ['run', '--jbos', '2'])).code, 2);
  });
});
