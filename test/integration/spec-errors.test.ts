// Bad specs fail before anything runs: exit code 2, `file:line:col`, a code frame and a hint.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
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

  test('an experiment file whose name is not a plain folder name is refused before anything is written', async () => {
    const pipeline = 'stages:\n  a: {cmd: echo new > a, outs: [a]}\n';
    for (const name of ['...yaml', '..yaml', '.hidden.yaml', '-x.yaml', 'a b.yaml', 'é.yaml']) {
      const ws = makeWorkspace({
        'pipeline.yaml': pipeline,
        a: 'precious\n',
        [`experiments/${name}`]: 'extends: ../pipeline.yaml\n',
      });
      try {
        const r = await cli(ws.dir, ['run', `experiments/${name}`, '--json']);
        assert.equal(r.code, 2, name);
        assert.match(r.stderr, /E_SPEC_EXPERIMENT_NAME/, name);
        assert.equal(JSON.parse(r.stdout).errors[0].code, 'E_SPEC_EXPERIMENT_NAME', name);
        // The user's file in the project root is untouched, and nothing was created.
        assert.equal(lstatSync(ws.path('a')).isFile(), true, name);
        assert.equal(readFileSync(ws.path('a'), 'utf8'), 'precious\n', name);
        assert.deepEqual(readdirSync(ws.dir).sort(), ['a', 'experiments', 'pipeline.yaml'], name);
      } finally {
        ws.remove();
      }
    }
  });

  test('${} expansion is bounded in size and depth, with located errors', async () => {
    const doubling = `params:\n  p0: xx\n${Array.from({ length: 30 }, (_, i) => `  p${i + 1}: "\${p${i}}\${p${i}}"\n`).join('')}stages:\n  a: {cmd: 'echo \${p30}'}\n`;
    const size = await runSpec({ 'pipeline.yaml': doubling }, ['dag']);
    assert.equal(size.code, 2);
    assert.match(
      size.stderr,
      /pipeline\.yaml:22:3 error E_SPEC_INTERPOLATION_SIZE\n {2}expanding p20 would produce more than 1048576 characters/,
    );
    const chain = `params:\n${Array.from({ length: 2000 }, (_, i) => `  p${i}: "\${p${i + 1}}"\n`).join('')}  p2000: end\nstages:\n  a: {cmd: 'echo \${p0}'}\n`;
    const deep = await runSpec({ 'pipeline.yaml': chain }, ['dag']);
    assert.equal(deep.code, 2, deep.stderr);
    assert.match(
      deep.stderr,
      /pipeline\.yaml:67:3 error E_SPEC_INTERPOLATION_DEPTH\n {2}\$\{\} references nest deeper than 64: p0 -> p1 -> p2 -> … 60 more … -> p63 -> p64 -> p65/,
    );
    const forward = `params:\n  p0: end\n${Array.from({ length: 2000 }, (_, i) => `  p${i + 1}: "\${p${i}}"\n`).join('')}stages:\n  a: {cmd: 'echo \${p2000}'}\n`;
    const ordered = await runSpec({ 'pipeline.yaml': forward }, ['dag']);
    assert.match(ordered.stderr, /pipeline\.yaml:67:3 error E_SPEC_INTERPOLATION_DEPTH/);
    assert.doesNotMatch(size.stderr + deep.stderr + ordered.stderr, /internal error/);
    // Many values under 1 MiB each still meet the bound for the whole spec.
    const wide = `params:\n  big: "${'x'.repeat(900_000)}"\n  l: [${Array(100).fill('"${big}y"').join(',')}]\nstages: {}\n`;
    const total = await runSpec({ 'pipeline.yaml': wide }, ['dag']);
    assert.match(
      total.stderr,
      /pipeline\.yaml:3:3 error E_SPEC_INTERPOLATION_SIZE\n {2}expanding l would bring the spec's expansions over 67108864 characters/,
    );
  });

  test('nesting deeper than 64 is a located error, in block, flow and --set values', async () => {
    const n = 3000;
    const specs: [string, RegExp][] = [
      [
        `params:\n  x:\n${Array.from({ length: n }, (_, i) => `${' '.repeat(4 + 2 * i)}-`).join('\n')} 1\n`,
        /pipeline\.yaml:\d+:\d+ error E_SPEC_DEPTH/,
      ],
      [`params:\n  x: ${'['.repeat(n)}${']'.repeat(n)}\n`, /pipeline\.yaml:2:\d+ error E_SPEC_DEPTH/],
      [`params:\n  x: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`, /pipeline\.yaml:2:\d+ error E_SPEC_DEPTH/],
      [
        `params:\n${Array.from({ length: n }, (_, i) => `${' '.repeat(2 + i)}a:`).join('\n')} 1\n`,
        /pipeline\.yaml:\d+:\d+ error E_SPEC_DEPTH/,
      ],
      [`params:\n  x: ${'['.repeat(65)}${']'.repeat(65)}\n`, /pipeline\.yaml:2:68 error E_SPEC_DEPTH/],
    ];
    for (const [spec, where] of specs) {
      const r = await runSpec({ 'pipeline.yaml': `${spec}stages: {}\n` }, ['dag']);
      assert.equal(r.code, 2, r.stderr.slice(0, 300));
      assert.match(r.stderr, where);
      assert.match(r.stderr, /the spec nests deeper than 64 levels/);
      // A long line is shown as a window around the column, not whole.
      assert.ok(r.stderr.length < 2000, `${r.stderr.length} characters of error`);
    }
    const set = await runSpec({ 'pipeline.yaml': 'params: {x: null}\nstages: {}\n' }, [
      'dag',
      '--set',
      `x=${'- '.repeat(n)}1`,
    ]);
    assert.equal(set.code, 2);
    assert.match(set.stderr, /error E_USAGE_SET\n {2}--set x: the value nests deeper than 64 levels/);
    const ok = await runSpec(
      { 'pipeline.yaml': `params:\n  x: ${'['.repeat(60)}${']'.repeat(60)}\nstages: {}\n` },
      ['dag'],
    );
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('messages: full duplicate keys, a non-mapping spec, extends chains and missing parents', async () => {
    const dup = await runSpec({ 'pipeline.yaml': 'stages:\n  prepare: {cmd: a}\n  prepare: {cmd: b}\n' }, [
      'dag',
    ]);
    assert.match(dup.stderr, /pipeline\.yaml:3:3 error E_SPEC_DUPLICATE_KEY\n {2}duplicate key "prepare"/);
    for (const [text, kind] of [
      ['- a\n- b\n', 'a list'],
      ['hello\n', 'a string'],
      ['42\n', 'a number'],
    ]) {
      const top = await runSpec({ 'pipeline.yaml': text! }, ['dag']);
      assert.equal(top.code, 2);
      assert.match(
        top.stderr,
        new RegExp(
          `pipeline\\.yaml:1:1 error E_SPEC_SCHEMA\\n {2}pipeline\\.yaml holds ${kind}; the spec must be a mapping with params:/stages:`,
        ),
      );
      assert.doesNotMatch(top.stderr, /unknown key|undefined/);
    }
    const cycle = await runSpec(
      {
        'pipeline.yaml': 'stages: {}\n',
        'experiments/a.yaml': 'extends: b.yaml\n',
        'experiments/b.yaml': 'extends: c.yaml\n',
        'experiments/c.yaml': 'extends: a.yaml\n',
      },
      ['dag', 'experiments/a.yaml'],
    );
    assert.match(
      cycle.stderr,
      /experiments\/c\.yaml:1:10 error E_SPEC_EXTENDS_CYCLE\n {2}"extends" loops: experiments\/a\.yaml -> experiments\/b\.yaml -> experiments\/c\.yaml -> experiments\/a\.yaml\n/,
    );
    const missing = await runSpec({ 'experiments/x.yaml': 'description: d\nextends: ../nope.yaml\n' }, [
      'dag',
      'experiments/x.yaml',
    ]);
    assert.match(
      missing.stderr,
      /experiments\/x\.yaml:2:10 error E_SPEC_NOT_FOUND\n {2}cannot read spec file nope\.yaml: no such file \(extended by experiments\/x\.yaml\)/,
    );
    const empty = await runSpec(
      { 'pipeline.yaml': '', 'experiments/x.yaml': 'extends: ../pipeline.yaml\n' },
      ['dag', 'experiments/x.yaml'],
    );
    assert.match(
      empty.stderr,
      /experiments\/x\.yaml:1:10 error E_SPEC_EMPTY\n {2}pipeline\.yaml \(extended by experiments\/x\.yaml\) is empty/,
    );
    // Two commands in one process (the tests, a watch beside a run), each in its own folder: each
    // shows the other's nothing. Paths were relative to a module global the last command set.
    const files = { 'experiments/x.yaml': 'description: d\nextends: ../nope.yaml\n' };
    const [a, b] = [makeWorkspace(files), makeWorkspace(files)];
    try {
      const both = await Promise.all([a, b].map((ws) => cli(ws.dir, ['dag', 'experiments/x.yaml'])));
      for (const r of both)
        assert.match(
          r.stderr,
          /^experiments\/x\.yaml:2:10 error E_SPEC_NOT_FOUND\n {2}cannot read spec file nope\.yaml: no such file \(extended by experiments\/x\.yaml\)/,
        );
    } finally {
      a.remove();
      b.remove();
    }
    const blank = await runSpec({ 'pipeline.yaml': 'stages: {}\n', 'x.yaml': 'extends: ""\n' }, [
      'dag',
      'x.yaml',
    ]);
    assert.match(blank.stderr, /x\.yaml:1:10 error E_SPEC_SCHEMA\n {2}extends: must name the spec file/);
  });

  test('--json prints {ok: false, errors} on stdout for spec errors of run, status, dag and compare', async () => {
    const files = { 'pipeline.yaml': 'params: {lr: 1}\nstages:\n  s:\n    cmd: echo ${rl}\n' };
    for (const command of ['run', 'status', 'dag']) {
      const r = await runSpec(files, [command, 'pipeline.yaml', '--json']);
      assert.equal(r.code, 2, command);
      assert.deepEqual(JSON.parse(r.stdout), {
        ok: false,
        errors: [
          {
            code: 'E_SPEC_UNKNOWN_PARAM',
            message: 'unknown param ${rl}',
            hint: 'did you mean ${lr}?',
            file: 'pipeline.yaml',
            line: 4,
            col: 10,
            stage: 's',
          },
        ],
      });
      assert.match(r.stderr, /pipeline\.yaml:4:10 error E_SPEC_UNKNOWN_PARAM/, command);
    }
    const compare = await runSpec(files, ['compare', 'pipeline.yaml', '--json']);
    assert.equal(compare.code, 2);
    assert.equal(JSON.parse(compare.stdout).errors[0].code, 'E_COMPARE_NO_RUN');
  });
});
