// gc keeps exactly what experiments' latest runs reference; dag prints the graph; the built
// binary works as a real process.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { HOST } from '../../src/cache/liveness.ts';
import { cli, execCli, makeWorkspace, runJson } from '../helpers/workspace.ts';

const PIPELINE = `params:
  text: hello
stages:
  write:
    cmd: echo \${text} > text.txt
    outs: [text.txt]
  shout:
    cmd: tr a-z A-Z < text.txt > loud.txt
    deps: [text.txt]
    outs: [loud.txt]
`;

function objectCount(cache: string): number {
  return readdirSync(`${cache}/objects`, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .length;
}

describe('gc', () => {
  test('drops results no experiment references any more and keeps the latest ones', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': PIPELINE,
      'experiments/other.yaml': 'extends: ../pipeline.yaml\nparams: {text: other}\n',
    });
    try {
      await runJson(ws.dir, ['pipeline.yaml', '--set', 'text=first']);
      await runJson(ws.dir, ['pipeline.yaml']);
      await runJson(ws.dir, ['experiments/other.yaml']);
      const before = objectCount(ws.path('cache'));

      const dry = JSON.parse((await cli(ws.dir, ['gc', '--dry-run', '--json'])).stdout);
      // The "first" run's two outputs (text.txt, loud.txt), its two manifests and two run records go.
      assert.equal(dry.removed.objects, 4);
      assert.equal(dry.removed.records, 2);
      assert.equal(objectCount(ws.path('cache')), before);

      const real = await cli(ws.dir, ['gc']);
      assert.equal(real.code, 0);
      assert.match(real.stdout, /kept 4 results .* removed 4 objects, 2 run records/);
      assert.equal(objectCount(ws.path('cache')), before - 4);
      assert.deepEqual((await runJson(ws.dir, ['pipeline.yaml'])).status, {
        write: 'cached',
        shout: 'cached',
      });
      assert.deepEqual((await runJson(ws.dir, ['experiments/other.yaml'])).status, {
        write: 'cached',
        shout: 'cached',
      });
      assert.equal(ws.read('runs/other/shout/loud.txt'), 'OTHER\n');

      // An experiment file that is gone no longer protects its results.
      rmSync(ws.path('experiments/other.yaml'));
      const after = JSON.parse((await cli(ws.dir, ['gc', '--json'])).stdout);
      assert.equal(after.removed.refs, 1);
      assert.equal(after.removed.records, 2);
      assert.equal((await runJson(ws.dir, ['pipeline.yaml'])).status.shout, 'cached');
    } finally {
      ws.remove();
    }
  });

  test('refuses to collect while a run is using the cache', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    const sleeper = spawn('sleep', ['30']);
    try {
      await runJson(ws.dir);
      mkdirSync(ws.path('cache/locks/active'), { recursive: true });
      writeFileSync(ws.path(`cache/locks/active/${sleeper.pid}@${HOST}`), '');
      const r = await cli(ws.dir, ['gc']);
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        new RegExp(
          `E_GC_BUSY\\n {2}the cache is in use by a running \`gpt2o-pipe run\` \\(pid ${sleeper.pid} on ${HOST}\\)`,
        ),
      );
    } finally {
      sleeper.kill();
      ws.remove();
    }
  });
});

test('gc --dry-run reports exactly what gc then removes (a resume folder of a dropped key is kept by both)', async () => {
  // gc decides first (planGarbage, reads only) and removes after: the dry run is that same plan.
  const ws = makeWorkspace({ 'pipeline.yaml': 'stages:\n  s: { cmd: echo 1 > o.txt, outs: [o.txt] }\n' });
  try {
    const first = await runJson(ws.dir);
    const oldKey = first.json.stages[0]!.key!;
    ws.write('pipeline.yaml', 'stages:\n  s: { cmd: echo 2 > o.txt, outs: [o.txt] }\n');
    await runJson(ws.dir);
    // Checkpoints an interrupted rerun of the old key kept: not empty, so gc leaves them.
    ws.write(`cache/resume/${oldKey}/step-3.ckpt`, 'weights');
    const dry = JSON.parse((await cli(ws.dir, ['gc', '--dry-run', '--json'])).stdout);
    const real = JSON.parse((await cli(ws.dir, ['gc', '--json'])).stdout);
    assert.deepEqual({ ...dry, dryRun: false }, real);
    assert.equal(real.removed.records, 1);
    assert.equal(real.removed.resume, 0);
    assert.equal(ws.read(`cache/resume/${oldKey}/step-3.ckpt`), 'weights');
  } finally {
    ws.remove();
  }
});

test('gc removes locks left by dead processes and keeps a live one', async () => {
  const ws = makeWorkspace({
    'pipeline.yaml': 'stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n',
  });
  try {
    assert.equal((await runJson(ws.dir)).code, 0);
    // A pid that certainly belonged to a process that has exited.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const lock = (name: string, pid: number) => {
      mkdirSync(ws.path(`cache/locks/${name}.lock`), { recursive: true });
      writeFileSync(
        ws.path(`cache/locks/${name}.lock/owner.json`),
        JSON.stringify({ pid, host: HOST, token: 't', since: new Date().toISOString() }),
      );
    };
    const dead = 'de'.repeat(16);
    const alive = 'a1'.repeat(16);
    lock(dead, gone);
    lock(alive, process.pid);
    const r = await cli(ws.dir, ['gc', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).removed.locks, 1);
    assert.deepEqual(
      readdirSync(ws.path('cache/locks')).filter((n) => n.endsWith('.lock')),
      [`${alive}.lock`],
    );
  } finally {
    ws.remove();
  }
});

describe('dag and the binary', () => {
  test('dag prints each stage with what it needs, and a Mermaid flowchart', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      assert.equal((await cli(ws.dir, ['dag'])).stdout, 'write (cmd)\nshout (cmd)  <- write\n');
      assert.equal(
        (await cli(ws.dir, ['dag', '--mermaid'])).stdout,
        'flowchart TD\n  s_write["write (cmd)"]\n  s_shout["shout (cmd)"]\n  s_write --> s_shout\n',
      );
    } finally {
      ws.remove();
    }
  });

  test('dag refuses a second experiment instead of ignoring it', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE, 'other.yaml': PIPELINE });
    try {
      const r = await cli(ws.dir, ['dag', 'pipeline.yaml', 'other.yaml']);
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /error E_USAGE\n {2}dag: takes one experiment, got 2: pipeline\.yaml other\.yaml/,
      );
      assert.equal(r.stdout, '');
    } finally {
      ws.remove();
    }
  });

  test('compare in a project without a cache says so and creates no cache', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      const r = await cli(ws.dir, ['compare']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /error E_COMPARE_NO_RUN\n {2}no cache at cache, so no finished run to compare/);
      assert.deepEqual(readdirSync(ws.dir), ['pipeline.yaml'], 'looking created nothing');
    } finally {
      ws.remove();
    }
  });

  test('the built binary runs a pipeline, prints help and exits with the documented codes', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      const first = await execCli(ws.dir, ['run']);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /2 stages: 2 ran, 0 cached/);
      assert.equal(ws.read('runs/pipeline/shout/loud.txt'), 'HELLO\n');
      const second = await execCli(ws.dir, ['run']);
      assert.match(second.stdout, /✔ write\s+cached\n\s+✔ shout\s+cached\n2 stages: 0 ran, 2 cached/);
      const help = await execCli(ws.dir, ['run', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--set KEY=VALUE/);
      assert.equal((await execCli(ws.dir, [])).code, 2);
      assert.equal(
        (await execCli(ws.dir, ['--version'])).stdout.trim(),
        JSON.parse(
          (await import('node:fs')).readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
        ).version,
      );
      assert.ok(existsSync(ws.path('cache/CACHEDIR.TAG')));
    } finally {
      ws.remove();
    }
  });
});
