// Real processes, real signals: a run killed with SIGKILL leaves nothing a later run mistakes for a
// result, concurrent runs compute a shared stage once, and locks of dead processes are taken over.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isAlive, killQuietly, waitFor } from '../helpers/process.ts';
import { countLines, execCli, makeWorkspace, spawnCli } from '../helpers/workspace.ts';

describe('crashes and concurrency', () => {
  test('SIGKILL mid-stage leaves no half result, and the rerun completes with the right output', async () => {
    const ws = makeWorkspace({});
    const counter = ws.path('counter.txt');
    const go = ws.path('go');
    const pidFile = ws.path('stage.pid');
    ws.write(
      'pipeline.yaml',
      `params: {counter: ${counter}, go: ${go}, pid: ${pidFile}}
stages:
  first:
    cmd: echo one > first.txt && echo first >> \${counter}
    outs: [first.txt]
  slow:
    cmd: echo $$ > \${pid}; echo slow >> \${counter}; echo partial > slow.txt; while [ ! -f \${go} ]; do sleep 0.05; done; cat first.txt >> slow.txt
    deps: [first.txt]
    outs: [slow.txt]
  last:
    cmd: wc -l < slow.txt > last.txt
    deps: [slow.txt]
    outs: [last.txt]
`,
    );
    try {
      const child = spawnCli(ws.dir, ['run']);
      await waitFor(
        () => countLines(counter, 'slow') === 1 && existsSync(pidFile),
        'the slow stage to start',
      );
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      killQuietly(Number(readFileSync(pidFile, 'utf8')));

      // The killed stage left no run record and no runs/ link; the finished one is cached.
      const status = await execCli(ws.dir, ['status', 'pipeline.yaml', '--json']);
      const states = JSON.parse(status.stdout).experiments[0].stages.map((s: { state: string }) => s.state);
      assert.deepEqual(states, ['up-to-date', 'never-run', 'never-run']);
      assert.equal(existsSync(ws.path('runs/pipeline/slow')), false);

      writeFileSync(go, '');
      const rerun = await execCli(ws.dir, ['run', '--json']);
      assert.equal(rerun.code, 0, rerun.stderr);
      const outcome = JSON.parse(rerun.stdout);
      assert.deepEqual(
        outcome.stages.map((s: { status: string }) => s.status),
        ['cached', 'ran', 'ran'],
      );
      assert.equal(ws.read('runs/pipeline/slow/slow.txt'), 'partial\none\n');
      assert.equal(ws.read('runs/pipeline/last/last.txt').trim(), '2');
      assert.equal(countLines(counter, 'first'), 1);
      // The lock of the killed run was taken over and released.
      assert.deepEqual(
        readdirSync(ws.path('cache/locks')).filter((n) => n.endsWith('.lock')),
        [],
      );
    } finally {
      ws.remove();
    }
  });

  test('Ctrl-C stops the running command with its process group, caches nothing and exits 130', async () => {
    const ws = makeWorkspace({});
    const pidFile = ws.path('sleeper.pid');
    ws.write(
      'pipeline.yaml',
      `params: {pid: ${pidFile}}
stages:
  slow:
    cmd: sleep 60 & echo $! > \${pid}; wait
    outs: [never.txt]
`,
    );
    try {
      const child = spawnCli(ws.dir, ['run']);
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      await waitFor(
        () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '',
        'the command to start',
      );
      const sleeper = Number(readFileSync(pidFile, 'utf8'));
      child.kill('SIGINT');
      const code = await new Promise((r) => child.once('exit', r));
      assert.equal(code, 130);
      assert.match(stderr, /interrupted: stopping running stages/);
      assert.match(stderr, /E_INTERRUPTED \(stage "slow"\)/);
      await waitFor(() => !isAlive(sleeper), 'the grandchild sleep to be killed', 5000);
      const status = await execCli(ws.dir, ['status', 'pipeline.yaml', '--json']);
      assert.equal(JSON.parse(status.stdout).experiments[0].stages[0].state, 'never-run');
    } finally {
      ws.remove();
    }
  });

  test('`run | head -1`: the closed pipe stops the run like Ctrl-C, with no stack, lock or process left (exit 141)', async () => {
    const ws = makeWorkspace({});
    const pidFile = ws.path('sleeper.pid');
    ws.write(
      'pipeline.yaml',
      `params: {pid: ${pidFile}, go: ${ws.path('go')}}
stages:
  slow:
    cmd: sleep 60 & echo $! > \${pid}; wait
    outs: [never.txt]
  late:
    cmd: while [ ! -e \${go} ]; do sleep 0.05; done; echo done > late.txt
    outs: [late.txt]
`,
    );
    try {
      const child = spawnCli(ws.dir, ['run', '--jobs', '2']);
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      let exitCode: number | null | undefined;
      const exited = new Promise<number | null>((r) =>
        child.once('exit', (code) => {
          exitCode = code;
          r(code);
        }),
      );
      // A real reader on the pipe that leaves after one line; our own end of it is closed at once.
      const head = spawn('head', ['-n', '1'], { stdio: [child.stdout, 'pipe', 'inherit'] });
      child.stdout.destroy();
      let line = '';
      head.stdout.on('data', (d) => {
        line += d;
      });
      await new Promise((r) => head.once('exit', r));
      assert.match(line, /^gpt2o-pipe run: experiment "pipeline"/);
      // The first write after head left fails. Whether that comes before `slow` has started (its
      // "running" line) or after (the line `late` prints once released) is the machine's timing;
      // how the run ends must be the same either way.
      const slowStarted = () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '';
      await waitFor(() => slowStarted() || exitCode !== undefined, 'slow to start or the run to stop');
      const sleeper = slowStarted() ? Number(readFileSync(pidFile, 'utf8')) : undefined;
      writeFileSync(ws.path('go'), '');
      assert.equal(await exited, 141, stderr);
      assert.match(stderr, /stdout was closed \(EPIPE\): stopping/);
      assert.doesNotMatch(stderr, /Error: write EPIPE|\n\s+at |internal error/);
      if (sleeper !== undefined) {
        assert.match(stderr, /E_INTERRUPTED \(stage "slow"\)/);
        await waitFor(() => !isAlive(sleeper), 'the grandchild sleep to be killed', 5000);
      }
      assert.deepEqual(
        readdirSync(ws.path('cache/locks')).filter((n) => n.endsWith('.lock')),
        [],
        'no stage lock is left',
      );
      assert.deepEqual(readdirSync(ws.path('cache/locks/active')), [], 'no active-run marker is left');
    } finally {
      ws.remove();
    }
  });

  test('status, compare, logs and dag into a closed stdout exit 141 without a stack trace', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': 'stages:\n  a:\n    cmd: echo hi > a.txt\n    outs: [a.txt]\n',
    });
    try {
      assert.equal((await execCli(ws.dir, ['run'])).code, 0);
      for (const args of [['status'], ['compare'], ['logs', 'a'], ['dag'], ['run']]) {
        const child = spawnCli(ws.dir, args);
        child.stdout.destroy(); // the reader is gone before the command writes a byte
        let stderr = '';
        child.stderr.on('data', (d) => {
          stderr += d;
        });
        const code = await new Promise((r) => child.once('exit', r));
        assert.equal(code, 141, `${args.join(' ')}: ${stderr}`);
        assert.match(stderr, /^\nstdout was closed \(EPIPE\): stopping\n$/, args.join(' '));
      }
    } finally {
      ws.remove();
    }
  });

  test('two concurrent runs of overlapping experiments both succeed and the shared stage runs once', async () => {
    const ws = makeWorkspace({});
    const counter = ws.path('counter.txt');
    ws.write(
      'pipeline.yaml',
      `params:
  counter: ${counter}
  data: {n: 5}
  train: {context_length: 8}
stages:
  prepare:
    cmd: echo prepare >> \${counter} && sleep 1 && seq \${data.n} > data.txt
    outs: [data.txt]
  train:
    cmd: echo train-\${train.context_length} >> \${counter} && (echo ctx=\${train.context_length}; cat data.txt) > model.txt
    deps: [data.txt]
    outs: [model.txt]
`,
    );
    ws.write('experiments/a.yaml', 'extends: ../pipeline.yaml\nparams: {train: {context_length: 16}}\n');
    ws.write('experiments/b.yaml', 'extends: ../pipeline.yaml\nparams: {train: {context_length: 32}}\n');
    ws.write('experiments/c.yaml', 'extends: ../pipeline.yaml\nparams: {train: {context_length: 64}}\n');
    ws.write('experiments/d.yaml', 'extends: ../pipeline.yaml\nparams: {train: {context_length: 16}}\n');
    try {
      const results = await Promise.all(
        ['a', 'b', 'c', 'd'].map((name) => execCli(ws.dir, ['run', `experiments/${name}.yaml`, '--json'])),
      );
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      assert.equal(countLines(counter, 'prepare'), 1, 'the shared stage ran more than once');
      // a and d have identical params: their train stage has one key, computed once.
      assert.equal(countLines(counter, 'train-16'), 1);
      assert.equal(countLines(counter, 'train-32'), 1);
      const prepareStatuses = results.map((r) => JSON.parse(r.stdout).stages[0].status).sort();
      assert.deepEqual(prepareStatuses, ['cached', 'cached', 'cached', 'ran']);
      assert.equal(ws.read('runs/c/train/model.txt'), 'ctx=64\n1\n2\n3\n4\n5\n');
      assert.ok(results.some((r) => /waiting: pid \d+ on .* is computing the same stage/.test(r.stderr)));
      assert.deepEqual(
        readdirSync(ws.path('cache/locks')).filter((n) => n.endsWith('.lock')),
        [],
      );
    } finally {
      ws.remove();
    }
  });

  test('a lock whose owner.json names no owner is judged by its age alone, by run and gc alike', {
    timeout: 60_000,
  }, async () => {
    // lock.ts and gc.ts apply one rule (lockIsHeld): an owner.json without pid and host is no owner,
    // so an old lock folder with one is stale. (run used to take `{}` for a live holder on another
    // host and wait up to 30 minutes; gc took it for stale.)
    const ws = makeWorkspace({
      'pipeline.yaml': 'stages:\n  s:\n    cmd: echo done > s.txt\n    outs: [s.txt]\n',
    });
    try {
      const dry = await execCli(ws.dir, ['run', '--dry-run', '--json']);
      const key = JSON.parse(dry.stdout).stages[0].key as string;
      const lock = ws.path(`cache/locks/${key}.lock`);
      const leave = () => {
        mkdirSync(lock, { recursive: true });
        writeFileSync(join(lock, 'owner.json'), '{}');
        const old = new Date(Date.now() - 5 * 60_000);
        utimesSync(join(lock, 'owner.json'), old, old);
        utimesSync(lock, old, old);
      };
      leave();
      const gc = JSON.parse((await execCli(ws.dir, ['gc', '--json'])).stdout);
      assert.equal(gc.removed.locks, 1);
      assert.equal(existsSync(lock), false);
      leave();
      const r = await execCli(ws.dir, ['run', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).stages[0].status, 'ran');
      assert.equal(existsSync(lock), false);
    } finally {
      ws.remove();
    }
  });

  test('a lock left by a dead process is taken over; a live holder is waited for', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': 'stages:\n  s:\n    cmd: echo done > s.txt\n    outs: [s.txt]\n',
    });
    try {
      const dry = await execCli(ws.dir, ['run', '--dry-run', '--json']);
      const key = JSON.parse(dry.stdout).stages[0].key as string;
      const lock = ws.path(`cache/locks/${key}.lock`);
      const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
      mkdirSync(lock, { recursive: true });
      const host = (await import('node:os')).hostname();
      writeFileSync(
        join(lock, 'owner.json'),
        JSON.stringify({ pid: Number(dead), host, token: 'dead', since: '' }),
      );
      const r = await execCli(ws.dir, ['run', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).stages[0].status, 'ran');
      assert.equal(existsSync(lock), false);

      // A live holder (this test process) blocks the run until it lets go.
      mkdirSync(lock, { recursive: true });
      writeFileSync(
        join(lock, 'owner.json'),
        JSON.stringify({ pid: process.pid, host, token: 'live', since: '' }),
      );
      const child = spawnCli(ws.dir, ['run', '--force', 's']);
      let stdout = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      await waitFor(() => stdout.includes('waiting'), 'the run to wait for the lock');
      assert.equal(child.exitCode, null);
      (await import('node:fs')).rmSync(lock, { recursive: true });
      const code = await new Promise((r) => child.once('exit', r));
      assert.equal(code, 0);
      assert.match(stdout, /waiting: pid \d+ on .* is computing the same stage/);
    } finally {
      ws.remove();
    }
  });
});
