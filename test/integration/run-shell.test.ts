// Commands started by the command processes (run/command-pool.ts), with real processes: they are
// not forked from this process, their output still reaches the stage log and its tail, a command
// process that goes away fails the stage with a message (and stops the command) instead of hanging
// it, Ctrl-C still stops the whole group, and the command processes end with this one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { PipeError } from '../../src/errors.ts';
import { type CommandHost, CommandPool, startCommandProcess } from '../../src/run/command-pool.ts';
import { runShell, type ShellRun } from '../../src/run/run-shell.ts';
import { StageLog } from '../../src/run/stage-log.ts';
import { workerProcessArgs } from '../../src/util/worker-source.ts';
import { isAlive, killQuietly, waitFor } from '../helpers/process.ts';
import { BIN, cli, makeWorkspace, spawnCli } from '../helpers/workspace.ts';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2o-run-shell-'));
  const lines: string[] = [];
  const log = new StageLog(join(dir, 'logs', 's.log'), (line) => lines.push(line));
  const shell = (cmd: string, more: Partial<ShellRun> = {}) =>
    runShell({
      stage: 's',
      cmd,
      cwd: dir,
      env: process.env,
      log,
      signal: new AbortController().signal,
      scriptPath: join(dir, 's.sh'),
      ...more,
    });
  return { dir, lines, log, shell, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `sleep 60` in the command's group, its pid written to a file once it runs. */
function sleeperCommand(pidFile: string): string {
  return `sleep 60 & echo $! > ${pidFile}; wait`;
}

async function sleeperPid(pidFile: string): Promise<number> {
  await waitFor(
    () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'),
    'the sleeper to start',
  );
  return Number(readFileSync(pidFile, 'utf8'));
}

async function rejection(promise: Promise<unknown>): Promise<PipeError> {
  const error = await promise.then(
    () => assert.fail('the command should have failed'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof PipeError, `not a PipeError: ${(error as Error)?.stack}`);
  return error;
}

describe('commands started by the command processes', () => {
  test('stdout and stderr reach the stage log and its tail, a line split across writes joined', async () => {
    const t = setup();
    try {
      const error = await rejection(t.shell("printf 'out one\\npar'; sleep 0.1; printf 'tial\\n'; exit 3"));
      assert.equal(error.code, 'E_STAGE_COMMAND');
      assert.equal(error.message, 'stage "s": command exited with code 3');
      await rejection(t.shell("printf 'err one\\n' >&2; kill -TERM $$"));
      await t.log.close();
      assert.equal(readFileSync(t.log.path, 'utf8'), 'out one\npartial\nerr one\n');
      assert.deepEqual(t.lines, ['out one', 'partial', 'err one']);
      assert.equal(t.log.tail(), 'out one\npartial\nerr one');
    } finally {
      t.remove();
    }
  });

  test('a command is not forked from this process: its shell is the child of a command process', async () => {
    const t = setup();
    try {
      await t.shell('echo $PPID');
      const parent = Number(t.lines[0]);
      assert.ok(Number.isInteger(parent) && parent > 1, `not a pid: ${t.lines[0]}`);
      assert.notEqual(parent, process.pid);
      assert.match(readFileSync(`/proc/${parent}/cmdline`, 'latin1'), /command-worker/);
    } finally {
      t.remove();
    }
  });

  test('a command process ends with the run that started it when the run is killed, and says nothing', {
    timeout: 60_000,
  }, async () => {
    const ws = makeWorkspace({});
    const hostFile = ws.path('host.pid');
    const sleeperFile = ws.path('sleeper.pid');
    // Output all along: the run is killed while its command process is relaying some.
    ws.write(
      'pipeline.yaml',
      `stages:
  slow:
    cmd: echo $PPID > ${hostFile}; sleep 60 & echo $! > ${sleeperFile}; while :; do echo tick; sleep 0.002; done
    outs: [never.txt]
`,
    );
    const child = spawnCli(ws.dir, ['run']);
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    // Ends when every process that holds it (the run, its command process) has closed it.
    const stderrClosed = new Promise((resolve) => child.stderr.on('close', resolve));
    let sleeper: number | undefined;
    try {
      await waitFor(
        () => existsSync(sleeperFile) && readFileSync(sleeperFile, 'utf8').endsWith('\n'),
        'slow to start',
      );
      sleeper = Number(readFileSync(sleeperFile, 'utf8'));
      const host = Number(readFileSync(hostFile, 'utf8'));
      assert.notEqual(host, child.pid);
      assert.ok(isAlive(host));
      await new Promise((resolve) => setTimeout(resolve, 200));
      child.kill('SIGKILL');
      await waitFor(() => !isAlive(host), 'the command process to end after its run was killed', 10_000);
      await stderrClosed;
      assert.equal(stderr, '');
    } finally {
      if (sleeper) killQuietly(sleeper);
      ws.remove();
    }
  });

  test('Ctrl-C at a terminal (SIGINT to the whole group) interrupts the stage; its command process is not lost first', {
    timeout: 60_000,
  }, async () => {
    const ws = makeWorkspace({});
    const sleeperFile = ws.path('sleeper.pid');
    ws.write(
      'pipeline.yaml',
      `stages:\n  slow:\n    cmd: sleep 60 & echo $! > ${sleeperFile}; wait\n    outs: [never.txt]\n`,
    );
    // Its own group, as a terminal's foreground job is: a Ctrl-C reaches every process in it.
    const child = spawn(process.execPath, [BIN, 'run'], {
      cwd: ws.dir,
      env: { ...process.env, GPT2O_CACHE: '', CI: '1' },
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let sleeper: number | undefined;
    try {
      await waitFor(
        () => existsSync(sleeperFile) && readFileSync(sleeperFile, 'utf8').endsWith('\n'),
        'slow to start',
      );
      sleeper = Number(readFileSync(sleeperFile, 'utf8'));
      process.kill(-child.pid!, 'SIGINT');
      assert.equal(await exited, 130, out);
      assert.match(out, /stage "slow" was interrupted/);
      assert.doesNotMatch(out, /the process that started the command/);
      await waitFor(() => !isAlive(sleeper!), 'the command to be stopped', 10_000);
    } finally {
      killQuietly(child.pid!);
      if (sleeper) killQuietly(sleeper);
      ws.remove();
    }
  });

  test("a failed stage's error report ends with the command's last lines", async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  s:
    cmd: "echo to-stdout; echo to-stderr >&2; exit 4"
    outs: [x.txt]
`,
    });
    try {
      const r = await cli(ws.dir, ['run']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /stage "s": command exited with code 4/);
      assert.match(r.stderr, /\| to-stdout/);
      assert.match(r.stderr, /\| to-stderr/);
      const logs = readdirSync(ws.path('cache/logs'));
      assert.equal(logs.length, 1);
      const log = readFileSync(ws.path(`cache/logs/${logs[0]}`), 'utf8').split('\n');
      assert.ok(log.includes('to-stdout') && log.includes('to-stderr'), log.join('\n'));
    } finally {
      ws.remove();
    }
  });

  // A timeout: a pool that missed the process's end would wait for its answer forever.
  test("a command gets the run's whole environment, NODE_OPTIONS included", async () => {
    const t = setup();
    try {
      await t.shell('echo "$NODE_OPTIONS|$GPT2O_TEST_VALUE"', {
        env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=3000', GPT2O_TEST_VALUE: 'a b' },
      });
      assert.deepEqual(t.lines, ['--max-old-space-size=3000|a b']);
    } finally {
      t.remove();
    }
  });

  test('a command process killed mid-command fails the stage, says so, and stops the command', {
    timeout: 60_000,
  }, async () => {
    const t = setup();
    const hosts: CommandHost[] = [];
    const pool = new CommandPool(async () => {
      const host = await startCommandProcess();
      hosts.push(host);
      return host;
    });
    const pidFile = join(t.dir, 'sleeper.pid');
    let sleeper: number | undefined;
    try {
      const running = t.shell(sleeperCommand(pidFile), { pool });
      sleeper = await sleeperPid(pidFile);
      hosts[0]!.terminate();
      const error = await rejection(running);
      assert.equal(error.code, 'E_STAGE_COMMAND');
      assert.equal(
        error.message,
        'stage "s": the process that started the command was killed by SIGKILL before the command ended; the command was stopped',
      );
      await waitFor(() => !isAlive(sleeper!), 'the command to be stopped', 10_000);
      // The pool makes a new process for the next command.
      await t.shell('echo again', { pool });
      assert.equal(hosts.length, 2);
      assert.ok(t.lines.includes('again'));
    } finally {
      if (sleeper) killQuietly(sleeper);
      t.remove();
    }
  });

  test('a command process whose run went away while it reported exits quietly', {
    timeout: 60_000,
  }, async () => {
    // The channel ends as soon as the command has started, while the command process is about to
    // report its end, as when a run exits at that moment: that report finds the channel closed.
    const args = workerProcessArgs(
      new URL('../../src/run/command-pool.ts', import.meta.url).href,
      'command-worker',
    );
    for (let i = 0; i < 10; i++) {
      const child = spawn(process.execPath, args, {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
      let stderr = '';
      child.stderr!.on('data', (d) => {
        stderr += d;
      });
      // NOTE: 'exit' and the end of stderr, not 'close': a child whose channel this side ended
      // never emits 'close'.
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const stderrClosed = new Promise((resolve) => child.stderr!.on('close', resolve));
      const started = new Promise((resolve) => child.once('message', resolve));
      child.send({ file: '/bin/sh', args: ['-c', 'echo out'], cwd: tmpdir(), env: process.env });
      await started;
      child.disconnect();
      const code = await exited;
      await stderrClosed;
      assert.equal(code, 0, stderr);
      assert.equal(stderr, '');
    }
  });

  test('a command host that exits before it reports anything fails the stage with its exit code', {
    timeout: 60_000,
  }, async () => {
    const t = setup();
    const pool = new CommandPool(
      () =>
        new Worker("require('node:worker_threads').parentPort.on('message', () => process.exit(7));", {
          eval: true,
        }),
    );
    try {
      const error = await rejection(t.shell('echo never', { pool }));
      assert.equal(
        error.message,
        'stage "s": the process that started the command exited with code 7 before the command ended; the command was stopped',
      );
      assert.deepEqual(t.lines, []);
    } finally {
      t.remove();
    }
  });

  test("Ctrl-C stops the command's whole group, also when it comes before the command started", async () => {
    const t = setup();
    const pidFile = join(t.dir, 'sleeper.pid');
    let sleeper: number | undefined;
    try {
      const controller = new AbortController();
      const running = t.shell(sleeperCommand(pidFile), { signal: controller.signal });
      sleeper = await sleeperPid(pidFile);
      controller.abort();
      const error = await rejection(running);
      assert.equal(error.code, 'E_INTERRUPTED');
      assert.equal(error.message, 'stage "s" was interrupted');
      await waitFor(() => !isAlive(sleeper!), 'the sleeper to be killed', 10_000);

      const early = new AbortController();
      early.abort();
      const second = join(t.dir, 'second.pid');
      const stopped = await rejection(t.shell(sleeperCommand(second), { signal: early.signal }));
      assert.equal(stopped.code, 'E_INTERRUPTED');
      // Killed as soon as it started: its sleeper, if it got as far as starting one, is gone too.
      if (existsSync(second) && readFileSync(second, 'utf8').endsWith('\n')) {
        const late = Number(readFileSync(second, 'utf8'));
        await waitFor(() => !isAlive(late), 'the second sleeper to be killed', 10_000);
      }
    } finally {
      if (sleeper) killQuietly(sleeper);
      t.remove();
    }
  });
});
