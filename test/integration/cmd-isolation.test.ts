// What a cmd: stage may not do to what it is given and what it hands back: write through its
// inputs (deps, upstream outputs in the cache), store links that lead out of its output, hang a
// run with a daemon, or put raw escape sequences on the terminal. Real sh, real files.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fixtureStages } from '../fixtures/stages/index.ts';
import { killQuietly, waitFor } from '../helpers/process.ts';
import { cli, makeWorkspace, runJson, startCli } from '../helpers/workspace.ts';

function recordsIn(cache: string): string[] {
  const dir = join(cache, 'actions');
  return existsSync(dir)
    ? readdirSync(dir, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.json'))
    : [];
}

describe('a cmd stage cannot write through its inputs', () => {
  test('sort -o on a dep fails the stage, naming the file and what changed', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml':
        'stages:\n  s:\n    cmd: sort -o input.txt input.txt && cp input.txt o.txt\n    deps: [input.txt]\n    outs: [o.txt]\n',
      'input.txt': 'b\na\n',
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.equal(r.status.s, 'failed');
      assert.match(
        r.stderr,
        /error E_STAGE_WROTE_INPUT \(stage "s"\)\n {2}stage "s" changed an input it was given: "input\.txt" was modified/,
      );
      // The user's file was rewritten (detected, not prevented): the message says so, nothing is cached.
      assert.equal(ws.read('input.txt'), 'a\nb\n');
      assert.deepEqual(recordsIn(ws.path('cache')), []);
    } finally {
      ws.remove();
    }
  });

  test('rm -rf through a linked dep folder is detected', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml':
        'stages:\n  s:\n    cmd: rm -rf data/* && echo x > o.txt\n    deps: [data]\n    outs: [o.txt]\n',
      'data/a.txt': 'alpha\n',
      'data/sub/b.txt': 'beta\n',
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /stage "s" changed an input it was given: "data\/a\.txt" was deleted \(and 2 more changes\)/,
      );
      assert.deepEqual(recordsIn(ws.path('cache')), []);
    } finally {
      ws.remove();
    }
  });

  test('appending to an upstream output quarantines the object; a sibling never caches the damage', async () => {
    const spec = (evil: string) => `stages:
  a:
    cmd: echo good > a.txt
    outs: [a.txt]
  b:
    cmd: ${evil}echo b > b.txt
    deps: [a.txt]
    outs: [b.txt]
  c:
    cmd: cat a.txt > c.txt
    deps: [a.txt]
    outs: [c.txt]
`;
    const ws = makeWorkspace({ 'pipeline.yaml': spec('chmod u+w a.txt; echo EVIL >> a.txt; ') });
    try {
      // One job at a time, so b's damage and its check come before c starts: with b and c in
      // parallel, c could store its own "good" c.txt (the same object) over the damage first.
      const r = await runJson(ws.dir, ['--keep-going', '--jobs', '1']);
      assert.equal(r.code, 1);
      assert.equal(r.status.a, 'ran');
      assert.equal(r.status.b, 'failed');
      assert.match(
        r.stderr,
        /stage "b" changed an input it was given: "a\.txt" changed size \(5 → 10 bytes\)/,
      );
      // Who moves the damaged object is a race: b's own check after its command, or c's check of
      // its inputs before its command (then c fails). Either way exactly one object is quarantined.
      if (r.status.c !== 'failed')
        assert.match(r.stderr, /1 damaged cache object was moved to cache\/quarantine\//);
      const quarantined = readdirSync(ws.path('cache/quarantine'));
      assert.equal(quarantined.length, 1);
      assert.equal(readFileSync(ws.path(`cache/quarantine/${quarantined[0]}`), 'utf8'), 'good\nEVIL\n');
      // c either failed (it saw the damage) or read "good": it never cached "good\nEVIL". Its c.txt
      // holds the same bytes as a.txt, so it is the same object: when b's damage to that object is
      // found after c finished, the object is quarantined and c's runs/ link is left out this time.
      if (r.status.c === 'ran' && existsSync(ws.path('runs/pipeline/c/c.txt')))
        assert.equal(ws.read('runs/pipeline/c/c.txt'), 'good\n');
      // Fixed command: a is recomputed (its object was quarantined), and c gets the right content.
      // Unless c finished after the quarantine: its c.txt ("good", read before the damage) is the
      // same object as a.txt and stored it anew, so a is served intact. Either way, never "EVIL".
      ws.write('pipeline.yaml', spec(''));
      const again = await runJson(ws.dir);
      assert.equal(again.code, 0, again.stderr);
      assert.ok(['ran', 'cached'].includes(again.status.a!), again.status.a);
      assert.equal(ws.read('runs/pipeline/c/c.txt'), 'good\n');
      assert.equal(ws.read('runs/pipeline/a/a.txt'), 'good\n');
      const verify = await cli(ws.dir, ['verify']);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    } finally {
      ws.remove();
    }
  });
});

describe('links in outputs', () => {
  test('a link to /etc in an out folder is refused with its path; nothing is copied or cached', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml':
        'stages:\n  s:\n    cmd: mkdir out && echo x > out/x.txt && ln -s /etc out/etc\n    outs: [out]\n',
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /error E_STAGE_OUTPUT \(stage "s"\)\n {2}stage "s": its output "out\/etc" is a symbolic link that points at an absolute path \("\/etc"\)/,
      );
      assert.deepEqual(recordsIn(ws.path('cache')), []);
      // Only x.txt's object may exist: nothing of /etc was read into the cache.
      const dir = ws.path('cache/objects');
      const objects = existsSync(dir)
        ? readdirSync(dir, { recursive: true }).filter((f) => lstatSync(join(dir, String(f))).isFile())
        : [];
      assert.ok(objects.length <= 1, `objects: ${objects.join(', ')}`);
    } finally {
      ws.remove();
    }
  });

  test('a link escaping through .. is refused, also through a link to a parent folder', async () => {
    for (const cmd of [
      'mkdir -p out && ln -s ../../secret out/s',
      'mkdir -p out/d && ln -s .. out/d/up && ln -s up/.. out/d/esc && ln -s ../d/esc/x out/d/y',
    ]) {
      const ws = makeWorkspace({ 'pipeline.yaml': `stages:\n  s:\n    cmd: ${cmd}\n    outs: [out]\n` });
      try {
        const r = await runJson(ws.dir);
        assert.equal(r.code, 1, cmd);
        assert.match(
          r.stderr,
          /error E_STAGE_OUTPUT .*\n {2}stage "s": its output "out\/[^"]+" is a symbolic link that (points|leads) outside the output/,
          cmd,
        );
        assert.deepEqual(recordsIn(ws.path('cache')), []);
      } finally {
        ws.remove();
      }
    }
  });

  test('a relative link inside the out folder is stored and served back as the same link', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  s:
    cmd: mkdir -p out/ckpt && echo w > out/ckpt/step-2.bin && ln -s ckpt/step-2.bin out/latest && ln -s ../ckpt out/ckpt/self-up
    outs: [out]
  t:
    cmd: cat out/latest > t.txt
    deps: [out]
    outs: [t.txt]
`,
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(ws.read('runs/pipeline/t/t.txt'), 'w\n');
      const served = ws.path('runs/pipeline/s/out/latest');
      assert.equal(readlinkSync(served), 'ckpt/step-2.bin');
      // A cached rerun serves the same link (the tree is rebuilt from the manifest after removal).
      const { rmSync } = await import('node:fs');
      rmSync(ws.path('cache/trees'), { recursive: true, force: true });
      const again = await runJson(ws.dir);
      assert.deepEqual(again.status, { s: 'cached', t: 'cached' });
      assert.equal(readlinkSync(ws.path('runs/pipeline/s/out/latest')), 'ckpt/step-2.bin');
      assert.equal(readFileSync(ws.path('runs/pipeline/s/out/latest'), 'utf8'), 'w\n');
      const verify = await cli(ws.dir, ['verify']);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    } finally {
      ws.remove();
    }
  });
});

describe('needs: on cmd stages', () => {
  test('a cmd upstream by list and by mapping with slot names', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  prepare: { cmd: echo hi > a.txt, outs: [a.txt] }
  listed:
    cmd: cat a.txt > b.txt
    needs: [prepare]
    outs: [b.txt]
  mapped:
    cmd: cat input/a.txt other/a.txt > c.txt
    needs: {input: prepare, other: prepare}
    outs: [c.txt]
`,
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(ws.read('runs/pipeline/listed/b.txt'), 'hi\n');
      assert.equal(ws.read('runs/pipeline/mapped/c.txt'), 'hi\nhi\n');
      assert.deepEqual((await runJson(ws.dir)).status, {
        prepare: 'cached',
        listed: 'cached',
        mapped: 'cached',
      });
    } finally {
      ws.remove();
    }
  });

  // Two inputs at one path: linked at once when every input is at the top of the scratch folder
  // (a dep and a built-in upstream's folder), one after another when some are in folders.
  for (const [where, spec, clash] of [
    ['at the top of the scratch folder', 'deps: [tone]\n    needs: [tone]', 'tone'],
    ['in a slot folder', 'needs: {d: a}\n    outs: [d/x.txt/y.txt]', 'd/x.txt'],
  ] as const)
    test(`two inputs, or an input and an out's folder, at one path (${where}) fail the stage, naming it`, async () => {
      const ws = makeWorkspace({
        tone: 'a project file named like the stage\n',
        'pipeline.yaml': `stages:
  tone: { uses: tone, with: { frequency: 440, samples: 3 } }
  a: { cmd: echo a > x.txt, outs: [x.txt] }
  c:
    cmd: touch ../../ran.txt
    ${spec}
`,
      });
      try {
        const r = await cli(ws.dir, ['run', 'c'], { registry: fixtureStages });
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(
            `error E_STAGE_INPUT_CLASH \\(stage "c"\\)\\n {2}stage "c": two of its inputs or outs claim the path "${clash}"`,
          ),
        );
        assert.ok(!existsSync(ws.path('runs/pipeline/c')));
      } finally {
        ws.remove();
      }
    });

  test('a built-in upstream appears as a folder named after its slot', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  tone: { uses: tone, with: { frequency: 440, samples: 3 } }
  listed:
    cmd: head -c 2 tone/tone.txt > l.txt
    needs: [tone]
    outs: [l.txt]
  mapped:
    cmd: head -c 2 sine/tone.txt > m.txt
    needs: {sine: tone}
    outs: [m.txt]
`,
    });
    try {
      const r = await runJson(ws.dir, [], fixtureStages);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(ws.read('runs/pipeline/listed/l.txt'), '0\n');
      assert.equal(ws.read('runs/pipeline/mapped/m.txt'), '0\n');
    } finally {
      ws.remove();
    }
  });
});

describe('needs: on built-in stages, and produced deps', () => {
  // Every way to name an upstream, for both kinds of consumer: a built-in stage reads a cmd
  // upstream by slot (mapping) or by its own name (list), and a cmd stage reads a cmd upstream's
  // out named in deps: (the upstream is implied). The mapping form once crashed for cmd stages.
  for (const [form, needs, upstream] of [
    ['mapping', '{audio: gen}', 'gen'],
    ['list', '[audio]', 'audio'],
  ] as const) {
    test(`a built-in stage reads a cmd upstream by ${form}`, async () => {
      const ws = makeWorkspace({
        'pipeline.yaml': `stages:
  ${upstream}: { cmd: "printf '1\\n-1\\n1\\n-1\\n' > tone.txt", outs: [tone.txt] }
  estimate:
    uses: zero-crossings
    needs: ${needs}
    with: { sample_rate: 8 }
  report:
    cmd: cat tone.txt estimate/estimate.json > all.txt
    needs: [${upstream}, estimate]
    outs: [all.txt]
`,
      });
      try {
        const r = await runJson(ws.dir, [], fixtureStages);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.status, { [upstream]: 'ran', estimate: 'ran', report: 'ran' });
        assert.equal(ws.read('runs/pipeline/report/all.txt'), '1\n-1\n1\n-1\n{"hz":3}');
        const again = await runJson(ws.dir, [], fixtureStages);
        assert.deepEqual(again.status, { [upstream]: 'cached', estimate: 'cached', report: 'cached' });
      } finally {
        ws.remove();
      }
    });
  }

  test('a cmd stage reads an upstream out through deps: alone (the upstream is implied)', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  prepare: { cmd: echo hi > a.txt, outs: [a.txt] }
  use: { cmd: cat a.txt a.txt > b.txt, deps: [a.txt], outs: [b.txt] }
  tone: { uses: tone, with: { frequency: 440, samples: 3 } }
  estimate: { uses: zero-crossings, needs: {audio: tone}, with: { sample_rate: 8 } }
`,
    });
    try {
      const r = await runJson(ws.dir, [], fixtureStages);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(ws.read('runs/pipeline/use/b.txt'), 'hi\nhi\n');
      assert.match(ws.read('runs/pipeline/estimate/estimate.json'), /^\{"hz":/);
    } finally {
      ws.remove();
    }
  });
});

describe('commands that misbehave', () => {
  test('a command longer than 128 KiB runs', async () => {
    const long = `echo ${'x'.repeat(140_000)} | wc -c > n.txt`;
    const ws = makeWorkspace({ 'pipeline.yaml': `stages:\n  s:\n    cmd: ${long}\n    outs: [n.txt]\n` });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0, r.stderr.slice(0, 2000));
      assert.equal(ws.read('runs/pipeline/s/n.txt').trim(), '140001');
    } finally {
      ws.remove();
    }
  });

  test('a command that cannot start (argument list too long) says so, with the stage and size', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': 'stages:\n  s:\n    cmd: echo hi > o\n    outs: [o]\n' });
    // One environment string over 128 KiB makes every exec fail with E2BIG.
    process.env.GPT2O_TEST_HUGE = 'x'.repeat(200_000);
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /error E_STAGE_COMMAND_TOO_LONG \(stage "s"\)\n {2}stage "s": the command could not start: argument list too long \(the command is 11 bytes; it and its environment exceed the system.s limit\)/,
      );
      assert.doesNotMatch(r.stderr, /code undefined/);
    } finally {
      delete process.env.GPT2O_TEST_HUGE;
      ws.remove();
    }
  });

  test('a daemon left holding stdout does not hang the stage, and Ctrl-C exits 130 promptly', async () => {
    const ws = makeWorkspace({});
    // The daemons write their pids here (outside the scratch folder), so the test can end them.
    const pids = ws.path('daemons.pid');
    ws.write(
      'pipeline.yaml',
      `stages:
  quick:
    cmd: setsid sleep 600 & echo $! >> ${pids}; echo done > q.txt
    outs: [q.txt]
  slow:
    cmd: setsid sleep 600 & echo $! >> ${pids}; echo started && sleep 600
    needs: [quick]
    outs: [never.txt]
`,
    );
    const started = startCli(ws.dir, ['run']);
    const { child } = started;
    try {
      const out = () => `${started.output().stdout}${started.output().stderr}`;
      // quick finishes although its daemon holds the pipe; slow starts.
      await waitFor(() => /slow\s+running/.test(out()), `slow to start:\n${out()}`, 20_000);
      child.kill('SIGINT');
      const code = await Promise.race([
        started.finished.then((end) => end.code),
        new Promise<string>((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000)),
      ]);
      assert.equal(code, 130, out());
      assert.equal(ws.read('runs/pipeline/quick/q.txt'), 'done\n');
    } finally {
      child.kill('SIGKILL');
      if (existsSync(pids))
        for (const pid of readFileSync(pids, 'utf8').split('\n').filter(Boolean)) killQuietly(Number(pid));
      ws.remove();
    }
  });

  test("escape sequences in a stage's output never reach the terminal raw; the log keeps them", async () => {
    const ws = makeWorkspace({
      'pipeline.yaml':
        "stages:\n  s:\n    cmd: printf 'a\\033]0;pwned\\007b\\033[2Jc\\001d\\n' >&2; exit 1\n    outs: [o]\n",
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.doesNotMatch(r.stderr, /\x1b|\x07|\x01/);
      assert.match(r.stderr, /\| abc\\x01d/);
      const log = readdirSync(ws.path('cache/logs'))[0]!;
      assert.match(readFileSync(ws.path(`cache/logs/${log}`), 'latin1'), /a\x1b\]0;pwned\x07b\x1b\[2Jc\x01d/);
    } finally {
      ws.remove();
    }
  });
});

describe('problems inside a dep folder or an output are named', () => {
  test('a broken link and a non-UTF-8 name in a dep folder say what is wrong and where', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': 'stages:\n  s:\n    cmd: ls data > o\n    deps: [data]\n    outs: [o]\n',
      'data/ok.txt': 'ok\n',
    });
    const { symlinkSync, writeFileSync, rmSync } = await import('node:fs');
    try {
      symlinkSync('nowhere', ws.path('data/dead'));
      let r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /error E_DEP_READ \(stage "s"\)\n {2}dep "data" of stage "s": "data\/dead" is a broken symbolic link \(to "nowhere"\)/,
      );
      rmSync(ws.path('data/dead'));
      writeFileSync(Buffer.concat([Buffer.from(`${ws.path('data')}/bad-`), Buffer.from([0xff, 0xfe])]), 'x');
      r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /"data\/bad-\uFFFD\uFFFD" has a name that is not valid UTF-8/);
    } finally {
      ws.remove();
    }
  });

  test('an output refused for a FIFO stores nothing: none of its files becomes an object', async () => {
    // The files sort before the FIFO, so a walk that stored each file as it found it had stored
    // them by the time it found the FIFO.
    const ws = makeWorkspace({
      'pipeline.yaml':
        'stages:\n  s:\n    cmd: mkdir out && echo one > out/a.txt && echo two > out/b.txt && mkfifo out/pipe\n    outs: [out]\n',
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /its output "out\/pipe" is a named pipe \(FIFO\)/);
      const objects = ws.path('cache/objects');
      const stored = existsSync(objects)
        ? readdirSync(objects).flatMap((d) => readdirSync(join(objects, d)))
        : [];
      assert.deepEqual(stored, []);
    } finally {
      ws.remove();
    }
  });

  test('a FIFO in an output is an output problem (E_STAGE_OUTPUT), not a cache write failure', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': 'stages:\n  s:\n    cmd: mkdir out && mkfifo out/pipe\n    outs: [out]\n',
    });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /error E_STAGE_OUTPUT \(stage "s"\)\n {2}stage "s": its output "out\/pipe" is a named pipe \(FIFO\), not a file or folder/,
      );
      assert.doesNotMatch(r.stderr, /E_CACHE_WRITE/);
    } finally {
      ws.remove();
    }
  });
});
