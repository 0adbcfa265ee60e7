// `logs` prints a stage's full stored log; `watch` reruns exactly what a change affects, stops a
// run in flight when a file changes, survives spec errors and leaves on Ctrl-C. Watch runs as the
// real built binary (real chokidar, real signals): run `npm run build` first, as `npm test` does.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isAlive, waitFor } from '../helpers/process.ts';
import { cli, countLines, makeWorkspace, runJson, spawnCli, type Workspace } from '../helpers/workspace.ts';

/** Run records in a cache: one per stage key that finished. */
function recordCount(cacheDir: string): number {
  let count = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name.endsWith('.json')) count++;
    }
  };
  walk(join(cacheDir, 'actions'));
  return count;
}

/** `gpt2o-pipe watch …` as a child process, with its output collected as it comes. */
function startWatch(ws: Workspace, args: string[]) {
  const child: ChildProcessWithoutNullStreams = spawnCli(ws.dir, ['watch', ...args]);
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => {
    out.stdout += d;
  });
  child.stderr.on('data', (d) => {
    out.stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let code: number | null | undefined;
  void exited.then((c) => {
    code = c;
  });
  return {
    out,
    /** Cycles that ran to their end (stopped ones print another line). */
    finishedCycles: () =>
      out.stdout.split('\n').filter((l) => l.startsWith('watch: waiting for changes')).length,
    /** Sends SIGINT and resolves with the exit code. */
    async interrupt(): Promise<number | null> {
      child.kill('SIGINT');
      await waitFor(() => code !== undefined, 'watch to exit after SIGINT', 10_000);
      return code ?? null;
    },
    kill: () => {
      if (code === undefined) child.kill('SIGKILL');
    },
    context: () => `\n--- stdout\n${out.stdout}\n--- stderr\n${out.stderr}`,
  };
}

describe('logs', () => {
  test('prints the full log of the latest run; unknown and not-yet-run stages get clear errors', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `params: {code: 0}
stages:
  hello:
    cmd: echo "hello from the log" && echo done > out.txt
    outs: [out.txt]
  later:
    cmd: cat out.txt > later.txt && echo "later says \${code}" && exit \${code}
    deps: [out.txt]
    outs: [later.txt]
`,
    });
    try {
      const never = await cli(ws.dir, ['logs', 'pipeline.yaml', 'hello']);
      assert.equal(never.code, 2);
      assert.match(never.stderr, /error E_LOGS_NOT_RUN/);
      assert.match(never.stderr, /stage "hello" has not run in experiment "pipeline" yet/);
      assert.match(never.stderr, /hint: run it first: gpt2o-pipe run pipeline\.yaml/);

      const { status } = await runJson(ws.dir, ['pipeline.yaml', 'hello']);
      assert.deepEqual(status, { hello: 'ran' });
      const logs = await cli(ws.dir, ['logs', 'pipeline.yaml', 'hello']);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /^\$ echo "hello from the log"/);
      assert.match(logs.stdout, /^hello from the log$/m);
      assert.equal(logs.stderr, '');

      // `later` was not selected: it has not run in this experiment yet.
      const notYet = await cli(ws.dir, ['logs', 'pipeline.yaml', 'later']);
      assert.equal(notYet.code, 2);
      assert.match(notYet.stderr, /stage "later" has not run in experiment "pipeline" yet/);

      const typo = await cli(ws.dir, ['logs', 'pipeline.yaml', 'helo']);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /error E_USAGE_UNKNOWN_STAGE/);
      assert.match(typo.stderr, /no stage named "helo"/);
      assert.match(typo.stderr, /did you mean "hello"\?/);

      // Without an experiment argument, the default (pipeline.yaml here) is used.
      const short = await cli(ws.dir, ['logs', 'hello']);
      assert.equal(short.code, 0, short.stderr);
      assert.match(short.stdout, /^hello from the log$/m);

      const missingStage = await cli(ws.dir, ['logs', 'pipeline.yaml']);
      assert.equal(missingStage.code, 2);
      assert.match(missingStage.stderr, /logs: name a stage/);
    } finally {
      ws.remove();
    }
  });

  test('after a failed attempt, logs shows that attempt and says its result is not cached', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `params: {code: 0}
stages:
  later:
    cmd: echo "later says \${code}" > later.txt && cat later.txt && exit \${code}
    outs: [later.txt]
`,
    });
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      assert.match((await cli(ws.dir, ['logs', 'later'])).stdout, /^later says 0$/m);

      ws.write('pipeline.yaml', ws.read('pipeline.yaml').replace('code: 0', 'code: 3'));
      assert.equal((await runJson(ws.dir)).status.later, 'failed');
      const failed = await cli(ws.dir, ['logs', 'later']);
      assert.equal(failed.code, 0, failed.stderr);
      assert.match(failed.stdout, /^later says 3$/m);
      assert.match(failed.stderr, /latest attempt of "later" .* has no result in the cache/);

      // Back to the recorded params: the recorded run's log again.
      ws.write('pipeline.yaml', ws.read('pipeline.yaml').replace('code: 3', 'code: 0'));
      const back = await cli(ws.dir, ['logs', 'later']);
      assert.match(back.stdout, /^later says 0$/m);
      assert.equal(back.stderr, '');
    } finally {
      ws.remove();
    }
  });
});

describe('watch', () => {
  test('reruns only what a change affects, survives a spec error, exits 130 on Ctrl-C', {
    timeout: 120_000,
  }, async () => {
    const ws = makeWorkspace({ 'dep.txt': 'one\n' });
    const counter = ws.path('counter.txt');
    const spec = (suffix: string) => `params:
  counter: ${counter}
  suffix: ${suffix}
stages:
  a:
    cmd: cat dep.txt > a.txt && echo a >> \${counter}
    deps: [dep.txt]
    outs: [a.txt]
  b:
    cmd: cat a.txt > b.txt && echo \${suffix} >> b.txt && echo b >> \${counter}
    deps: [a.txt]
    outs: [b.txt]
`;
    ws.write('pipeline.yaml', spec('x'));
    const runs = () => [countLines(counter, 'a'), countLines(counter, 'b')];
    const watch = startWatch(ws, ['pipeline.yaml', '--debounce', '200']);
    try {
      await waitFor(() => watch.finishedCycles() === 1, `the first run${watch.context()}`);
      assert.deepEqual(runs(), [1, 1]);
      assert.match(watch.out.stdout, /2 stages: 2 ran, 0 cached/);

      // The deps file feeds a, whose new output feeds b: both run again.
      ws.write('dep.txt', 'two\n');
      await waitFor(() => watch.finishedCycles() === 2, `the run after dep.txt changed${watch.context()}`);
      assert.match(watch.out.stdout, /^watch: dep\.txt changed; running$/m);
      assert.deepEqual(runs(), [2, 2]);
      assert.equal(ws.read('runs/pipeline/b/b.txt'), 'two\nx\n');

      // A param only b uses: the spec is read again and only b runs.
      ws.write('pipeline.yaml', spec('y'));
      await waitFor(() => watch.finishedCycles() === 3, `the run after the param edit${watch.context()}`);
      assert.match(watch.out.stdout, /^watch: pipeline\.yaml changed; running$/m);
      assert.deepEqual(runs(), [2, 3]);
      assert.equal(ws.read('runs/pipeline/b/b.txt'), 'two\ny\n');

      // A spec error is printed like the CLI prints it, and watch waits for the fix.
      ws.write('pipeline.yaml', spec('[unclosed'));
      await waitFor(() => /error E_SPEC_YAML/.test(watch.out.stderr), `the spec error${watch.context()}`);
      await waitFor(() => watch.finishedCycles() === 4, `watch to wait again${watch.context()}`);
      assert.match(watch.out.stderr, /^pipeline\.yaml:\d+:\d+ error E_SPEC_YAML/m);
      ws.write('pipeline.yaml', spec('y'));
      await waitFor(() => watch.finishedCycles() === 5, `the run after the fix${watch.context()}`);
      assert.match(watch.out.stdout, /2 stages: 0 ran, 2 cached/);
      assert.deepEqual(runs(), [2, 3]);

      const code = await watch.interrupt();
      assert.equal(code, 130, watch.context());
      assert.match(watch.out.stdout, /^watch: stopped$/m);
    } finally {
      watch.kill();
      ws.remove();
    }
  });

  test('the spec deleted and re-created with a changed param: watch says so, then reruns', {
    timeout: 120_000,
  }, async () => {
    const ws = makeWorkspace({});
    const spec = (word: string) => `params: {word: ${word}}
stages:
  a:
    cmd: echo \${word} > a.txt
    outs: [a.txt]
`;
    ws.write('pipeline.yaml', spec('one'));
    const watch = startWatch(ws, ['pipeline.yaml', '--debounce', '100']);
    try {
      await waitFor(() => watch.finishedCycles() === 1, `the first run${watch.context()}`);
      rmSync(ws.path('pipeline.yaml'));
      await waitFor(() => /E_SPEC_NOT_FOUND/.test(watch.out.stderr), `the missing spec${watch.context()}`);
      await waitFor(() => watch.finishedCycles() === 2, `watch to wait again${watch.context()}`);
      ws.write('pipeline.yaml', spec('two'));
      await waitFor(() => watch.finishedCycles() === 3, `the run after re-creating it${watch.context()}`);
      assert.equal(ws.read('runs/pipeline/a/a.txt'), 'two\n');
      // And it still hears later edits of the new file.
      ws.write('pipeline.yaml', spec('three'));
      await waitFor(() => watch.finishedCycles() === 4, `the run after editing it${watch.context()}`);
      assert.equal(ws.read('runs/pipeline/a/a.txt'), 'three\n');
      assert.equal(await watch.interrupt(), 130, watch.context());
    } finally {
      watch.kill();
      ws.remove();
    }
  });

  test('a change during a run stops it and the new run completes; only its result is cached', {
    timeout: 120_000,
  }, async () => {
    const ws = makeWorkspace({ 'dep.txt': 'one\n' });
    const counter = ws.path('counter.txt');
    const pids = ws.path('sleepers.txt');
    ws.write(
      'pipeline.yaml',
      `params: {counter: ${counter}, pids: ${pids}}
stages:
  slow:
    cmd: echo slow >> \${counter}; sleep 5 & echo $! >> \${pids}; wait; cat dep.txt > slow.txt
    deps: [dep.txt]
    outs: [slow.txt]
`,
    );
    const sleepers = () => readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    const watch = startWatch(ws, ['pipeline.yaml', '--debounce', '100']);
    try {
      await waitFor(() => countLines(pids) === 1, `the slow stage to start${watch.context()}`);
      ws.write('dep.txt', 'two\n');
      await waitFor(() => watch.finishedCycles() === 1, `the second run to finish${watch.context()}`);
      assert.match(watch.out.stdout, /^watch: files changed during the run: it stopped, a new one starts$/m);
      assert.match(watch.out.stdout, /^watch: dep\.txt changed; running$/m);
      assert.equal(countLines(counter, 'slow'), 2, 'the slow stage started twice');
      assert.equal(isAlive(sleepers()[0]!), false, 'the first run was killed');
      assert.equal(ws.read('runs/pipeline/slow/slow.txt'), 'two\n');
      assert.equal(recordCount(ws.path('cache')), 1, 'only the completed run is in the cache');
      // Stopped because of a change, the run's interruption is not reported as a failure to fix.
      assert.doesNotMatch(watch.out.stderr, /E_INTERRUPTED/);

      // Ctrl-C during a run stops it too, and nothing of it is cached.
      ws.write('dep.txt', 'three\n');
      await waitFor(() => countLines(pids) === 3, `the third run to start${watch.context()}`);
      const code = await watch.interrupt();
      assert.equal(code, 130, watch.context());
      await waitFor(() => !isAlive(sleepers()[2]!), 'the sleeper of the stopped run to be killed', 5000);
      assert.equal(recordCount(ws.path('cache')), 1);
      assert.equal(ws.read('runs/pipeline/slow/slow.txt'), 'two\n');
    } finally {
      watch.kill();
      ws.remove();
    }
  });
});
