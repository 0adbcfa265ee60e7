// The crash sweep (`npm run test:chaos`, not part of `npm test`): the repository's own demo pipeline,
// plus two `cmd:` stages (one writes a 12 MB file over about a second, so there is a mid-write
// window), is run once uninterrupted for reference; then, for a sweep of kill times spread over the
// whole run, `run` is started with the built binary and SIGKILLed at N ms. After each kill,
// `verify --json` must find the cache clean, and a second `run` must complete with the reference's
// results: the same key and the same output tree for every stage whose output is deterministic, and
// the same bytes in runs/ (train's weights and losses, evaluate's metrics, sample's audio included).
//
// The files live one folder down (test/chaos/sweep/) so that `npm test`'s glob test/*/*.test.ts
// does not pick them up; `npm run test:chaos` globs test/chaos/*/*.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeWorkspace, REPO, type Workspace } from '../../helpers/workspace.ts';

// Small enough that one run takes about 5 s on two cores; train writes a resume checkpoint after
// every step, so kills land mid-checkpoint too and a rerun after a kill mid-train resumes.
const SETS = [
  '--set',
  'train.max_steps=6',
  '--set',
  'train.checkpoint_interval=1',
  '--set',
  'sample.max_new_frames=8',
];

// Appended to a copy of pipeline.yaml: a cmd: stage that writes a multi-MB output slowly (40 copies
// of the downloaded MP3s, 12.6 MB, with a pause between copies), and one that reads it together
// with a built-in stage's output.
const CMD_STAGES = `  blob:
    cmd: for i in $(seq 1 \${chaos.copies}); do cat download/audio/*.mp3; sleep 0.02; done > blob.bin
    needs: [download]
    outs: [blob.bin]
  stats:
    cmd: (wc -c < blob.bin; wc -c < shard/train_000000.npy; cat shard/meta.json) > stats.txt
    deps: [blob.bin]
    needs: [shard]
    outs: [stats.txt]
`;

const STAGES = [
  'download',
  'resample',
  'codec',
  'tokenize',
  'shard',
  'train',
  'evaluate',
  'sample',
  'blob',
  'stats',
];

// Which results are bit-for-bit reproducible, and why the others are not:
// - train writes wall-clock fields into metrics.jsonl (tokens_per_sec, elapsed) and summary.json
//   (tokens_per_sec, train_seconds, and resumed_from after a kill), so its output tree digest
//   differs from run to run. Its key does not (it hashes params and shard's output), and its
//   weights, optimizer state and losses must match the reference bit for bit, resumed or not.
// - evaluate and sample are keyed by train's output tree digest, so their keys differ too, and
//   their outputs hold timing as well (evaluate's metrics.json: seconds, tokens_per_sec; sample's samples.json:
//   tokens_per_sec). evaluate's losses and sample's WAVs and token files must be identical.
const SAME_KEY = new Set(['download', 'resample', 'codec', 'tokenize', 'shard', 'train', 'blob', 'stats']);
const SAME_TREE = new Set(['download', 'resample', 'codec', 'tokenize', 'shard', 'blob', 'stats']);
/** Files in runs/ compared after dropping the fields that hold wall-clock measurements. */
const VOLATILE: Record<string, string[]> = {
  'train/metrics.jsonl': ['elapsed', 'tokens_per_sec', 'tensors'],
  'train/summary.json': ['tokens_per_sec', 'train_seconds', 'resumed_from'],
  // The trainer's final state: its elapsed time and the metrics lines with their timing.
  'train/trainer_state.json': ['elapsed', 'tokens_per_sec', 'tensors'],
  'evaluate/metrics.json': ['seconds', 'tokens_per_sec'],
  'sample/samples.json': ['tokens_per_sec'],
};

interface Line {
  t: number;
  text: string;
}

interface Timed {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: Line[];
  /** ms from spawn to exit. */
  exitAt: number;
  /** ms from spawn to the SIGKILL, when one was sent before the process ended. */
  killedAt?: number;
}

interface KillPlan {
  /** Kill this many ms after spawn… */
  ms: number;
  /** …or this many ms after this stage's "▶ running" line (aimed points for short stages). */
  afterStart?: string;
}

// The built CLI, copied once per sweep: a rebuild of dist/ while the sweep runs (`npm run build`
// in another terminal starts by deleting dist/) must not pull the binary out from under it.
let cliPath = join(REPO, 'bin', 'gpt2o-pipe.js');
function snapshotCli(dir: string): void {
  cpSync(join(REPO, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(REPO, 'bin'), join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  // Packages left out of the bundle (onnxruntime-node, tfjs) resolve from the repository's.
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  cliPath = join(dir, 'bin', 'gpt2o-pipe.js');
}

/** Runs the built CLI; progress lines (stderr under --json) are timestamped as they arrive. */
function runTimed(cwd: string, args: string[], env: NodeJS.ProcessEnv, kill?: KillPlan): Promise<Timed> {
  return new Promise((resolve) => {
    const start = performance.now();
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd,
      env: { ...process.env, GPT2O_CACHE: '', CI: '1', ...env },
    });
    const result: Timed = {
      pid: child.pid ?? -1,
      code: null,
      signal: null,
      stdout: '',
      stderr: '',
      lines: [],
      exitAt: 0,
    };
    let pending = '';
    let timer: NodeJS.Timeout | undefined;
    const killNow = () => {
      if (child.exitCode === null && child.signalCode === null && result.killedAt === undefined) {
        result.killedAt = performance.now() - start;
        child.kill('SIGKILL');
      }
    };
    child.stdout.on('data', (d) => {
      result.stdout += d;
    });
    child.stderr.on('data', (d) => {
      const text = String(d);
      result.stderr += text;
      pending += text;
      const t = performance.now() - start;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        result.lines.push({ t, text: line });
        if (kill?.afterStart && timer === undefined && startedStage(line) === kill.afterStart) {
          timer = setTimeout(killNow, kill.ms);
        }
        nl = pending.indexOf('\n');
      }
    });
    if (kill && !kill.afterStart) timer = setTimeout(killNow, kill.ms);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      result.exitAt = performance.now() - start;
      result.code = code;
      result.signal = signal;
      resolve(result);
    });
  });
}

const startedStage = (line: string) => /^\s+▶ (\S+)\s+running/.exec(line)?.[1];
const endedStage = (line: string) => /^\s+[✔✖-] (\S+)\s+(ran|cached|failed|skipped)/.exec(line)?.[1];

/** [start, end] ms of each stage in a run, from its progress lines. */
function stageWindows(lines: Line[]): Map<string, { start: number; end: number }> {
  const windows = new Map<string, { start: number; end: number }>();
  for (const { t, text } of lines) {
    const started = startedStage(text);
    if (started) windows.set(started, { start: t, end: Number.POSITIVE_INFINITY });
    const ended = endedStage(text);
    const w = ended ? windows.get(ended) : undefined;
    if (w) w.end = t;
  }
  return windows;
}

/** What a killed run was doing when it died: the stages running, else the phase it was in. */
function hitAt(run: Timed): string[] {
  if (run.killedAt === undefined) return ['(finished before the kill)'];
  const windows = stageWindows(run.lines);
  const running = [...windows].filter(([, w]) => w.end === Number.POSITIVE_INFINITY).map(([n]) => n);
  if (running.length > 0) return running;
  if (windows.size === 0) return ['(start-up)'];
  if (run.lines.some((l) => /^\d+ stages: /.test(l.text)) || windows.size === STAGES.length)
    return ['(recording)'];
  return ['(between stages)'];
}

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** runs/demo/<stage>/… → sha256 of the bytes (volatile files normalized first). */
function outputFiles(ws: Workspace): Map<string, string> {
  const root = ws.path('runs/demo');
  const files = new Map<string, string>();
  for (const stage of STAGES) {
    const dir = join(root, stage);
    for (const rel of readdirSync(dir, { recursive: true }).map(String).sort()) {
      const path = join(dir, rel);
      let bytes: Buffer;
      try {
        bytes = readFileSync(path);
      } catch {
        continue; // a folder
      }
      const name = `${stage}/${rel}`;
      const drop = VOLATILE[name];
      files.set(name, drop ? sha(normalize(bytes.toString('utf8'), drop)) : sha(bytes));
    }
  }
  return files;
}

/** JSON or JSON-lines with the given fields removed at any depth, re-serialized. */
function normalize(text: string, drop: string[]): string {
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => !drop.includes(key))
        .map(([key, child]) => [key, strip(child)]),
    );
  };
  const lines = text.trim().split('\n');
  // A .json file is one value (maybe over several lines), a .jsonl file one value per line.
  const values = lines.length > 1 && lines[0] !== '{' ? lines.map((l) => JSON.parse(l)) : [JSON.parse(text)];
  return values.map((value) => JSON.stringify(strip(value))).join('\n');
}

interface Snapshot {
  keys: Record<string, string>;
  trees: Record<string, string>;
  files: Map<string, string>;
}

/** Keys from `run --json`, output tree digests from the run records, bytes from runs/. */
function snapshot(ws: Workspace, cacheDir: string, runStdout: string): Snapshot {
  const outcome = JSON.parse(runStdout) as { ok: boolean; stages: { name: string; key: string }[] };
  assert.equal(outcome.ok, true);
  const keys: Record<string, string> = {};
  const trees: Record<string, string> = {};
  for (const { name, key } of outcome.stages) {
    keys[name] = key;
    const record = JSON.parse(
      readFileSync(join(cacheDir, 'actions', key.slice(0, 2), `${key}.json`), 'utf8'),
    );
    trees[name] = record.output.tree;
  }
  return { keys, trees, files: outputFiles(ws) };
}

async function verifyClean(ws: Workspace, env: NodeJS.ProcessEnv, context: string): Promise<number> {
  const r = await runTimed(ws.dir, ['verify', '--json'], env);
  let report: { ok: boolean; records: number; problems: unknown[] };
  try {
    report = JSON.parse(r.stdout);
  } catch {
    assert.fail(`${context}: verify --json printed no JSON (exit ${r.code})\n${r.stdout}\n${r.stderr}`);
  }
  assert.ok(
    r.code === 0 && report.ok && report.problems.length === 0,
    `${context}: verify found problems (exit ${r.code}):\n${JSON.stringify(report.problems, null, 2)}\n${r.stderr}`,
  );
  return report.records;
}

test('SIGKILL at any point of a run leaves a cache that verifies clean and a rerun that matches', {
  timeout: 15 * 60_000,
}, async (t) => {
  const began = performance.now();
  const ws = makeWorkspace({});
  const caches = ws.path('caches');
  try {
    snapshotCli(ws.path('cli'));
    writeFileSync(
      ws.path('pipeline.yaml'),
      readFileSync(join(REPO, 'pipeline.yaml'), 'utf8').replace(
        /^params:\n/m,
        'params:\n  chaos:\n    copies: 40\n',
      ),
    );
    appendFileSync(ws.path('pipeline.yaml'), CMD_STAGES);
    cpSync(join(REPO, 'experiments'), ws.path('experiments'), { recursive: true });
    const args = ['run', '--json', ...SETS];
    const cacheEnv = (name: string) => ({ GPT2O_CACHE: join(caches, name) });

    // The reference: one uninterrupted run, timed, to plan the kill points.
    const reference = await runTimed(ws.dir, args, cacheEnv('reference'));
    assert.equal(reference.code, 0, reference.stderr);
    const ref = snapshot(ws, join(caches, 'reference'), reference.stdout);
    assert.deepEqual(Object.keys(ref.keys).sort(), [...STAGES].sort());
    assert.ok(ref.files.has('train/model.safetensors') && ref.files.has('sample/samples/sample_00.wav'));
    assert.equal(await verifyClean(ws, cacheEnv('reference'), 'after the reference run'), STAGES.length);
    rmSync(join(caches, 'reference'), { recursive: true, force: true, maxRetries: 5 });
    const windows = stageWindows(reference.lines);
    const total = reference.exitAt;
    t.diagnostic(
      `reference run ${Math.round(total)} ms: ${[...windows]
        .map(([n, w]) => `${n} ${Math.round(w.start)}-${Math.round(w.end)}`)
        .join(', ')}`,
    );

    // Kill points: an even grid from 50 ms to the end of the reference run, plus two inside each
    // stage, timed from that stage's start line (at a quarter and three quarters of its reference
    // duration): short stages fall between grid points, and a loaded machine shifts absolute times.
    const GRID = 14;
    const plan: KillPlan[] = [];
    for (let i = 0; i < GRID; i++) plan.push({ ms: Math.round(50 + (i * (total - 50)) / (GRID - 1)) });
    for (const [name, w] of windows)
      for (const at of [0.25, 0.75]) plan.push({ afterStart: name, ms: Math.round(at * (w.end - w.start)) });

    const hits = new Map<string, number>();
    /** Steps train resumed from, in reruns that continued a killed train from its checkpoint. */
    const resumed: number[] = [];
    let staleLocks = 0;
    const log: string[] = [];
    let point = 0;
    const killAndCheck = async (kill: KillPlan) => {
      const name = `p${point++}`;
      const env = cacheEnv(name);
      rmSync(ws.path('runs'), { recursive: true, force: true });
      const killed = await runTimed(ws.dir, args, env, kill);
      const hit = hitAt(killed);
      for (const h of hit) hits.set(h, (hits.get(h) ?? 0) + 1);
      const at = kill.afterStart ? `${kill.ms} ms after ${kill.afterStart} started` : `${kill.ms} ms`;
      const context = `kill at ${at} (${Math.round(killed.killedAt ?? killed.exitAt)} ms; running: ${hit.join(', ')})`;
      log.push(context);
      // A kill sent as the run was exiting finds it already done (killedAt set, no signal): that
      // is a run that finished, which must have succeeded.
      if (killed.signal !== null) assert.equal(killed.signal, 'SIGKILL', `${context}\n${killed.stderr}`);
      else assert.equal(killed.code, 0, `${context}: the run failed on its own\n${killed.stderr}`);

      await verifyClean(ws, env, context);
      const rerun = await runTimed(ws.dir, args, env);
      assert.equal(rerun.code, 0, `${context}: the rerun failed\n${rerun.stderr}`);
      const got = snapshot(ws, env.GPT2O_CACHE, rerun.stdout);
      for (const stage of STAGES) {
        if (SAME_KEY.has(stage))
          assert.equal(got.keys[stage], ref.keys[stage], `${context}: key of ${stage}`);
        if (SAME_TREE.has(stage))
          assert.equal(got.trees[stage], ref.trees[stage], `${context}: output tree of ${stage}`);
      }
      assert.deepEqual(
        [...got.files].filter(([f, h]) => ref.files.get(f) !== h).map(([f]) => f),
        [],
        `${context}: files in runs/ differ from the reference`,
      );
      assert.deepEqual([...got.files.keys()], [...ref.files.keys()], `${context}: the same files in runs/`);
      // Locks: the rerun took over and released every lock of the killed run that it needed. A
      // lock can stay behind only when the kill fell between a stage's commit (its run record) and
      // the lock's release: the rerun finds that result cached and never asks for the lock. Such a
      // lock belongs to the dead process and guards a finished key; the next taker breaks it.
      const cache = env.GPT2O_CACHE;
      const locks = existsSync(join(cache, 'locks')) ? readdirSync(join(cache, 'locks')) : [];
      for (const lock of locks.filter((n) => n.endsWith('.lock'))) {
        const key = lock.slice(0, -'.lock'.length);
        let pid = -1;
        try {
          pid = JSON.parse(readFileSync(join(cache, 'locks', lock, 'owner.json'), 'utf8')).pid;
        } catch {
          // killed between mkdir and writing owner.json
        }
        assert.ok(pid === killed.pid || pid === -1, `${context}: a lock of pid ${pid} left on ${key}`);
        assert.ok(
          existsSync(join(cache, 'actions', key.slice(0, 2), `${key}.json`)),
          `${context}: a lock of the killed run on ${key}, which has no result`,
        );
        staleLocks++;
      }
      const resume = existsSync(join(cache, 'resume')) ? readdirSync(join(cache, 'resume')) : [];
      assert.deepEqual(resume, [], `${context}: resume checkpoints left`);
      // One record per stage: the killed run's finished stages were reused, none computed twice.
      assert.equal(await verifyClean(ws, env, `${context}, after the rerun`), STAGES.length);
      const summary = JSON.parse(ws.read('runs/demo/train/summary.json')) as { resumed_from: number };
      if (summary.resumed_from > 0) resumed.push(summary.resumed_from);
      // A killed cmd: stage's shell outlives run (README); it only writes into its abandoned scratch
      // folder, which goes with this cache.
      rmSync(cache, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    };

    for (const kill of plan) await killAndCheck(kill);
    // A stage the timed points missed (timing on a shared machine moves): aim at its start line.
    for (const stage of STAGES) {
      for (let attempt = 0; attempt < 4 && !hits.has(stage); attempt++)
        await killAndCheck({ ms: attempt * 5, afterStart: stage });
    }

    for (const line of log) t.diagnostic(line);
    const stagesHit = Object.fromEntries([...hits].sort(([a], [b]) => a.localeCompare(b)));
    const seconds = Math.round((performance.now() - began) / 1000);
    t.diagnostic(
      `kill sweep: ${point} kill points, stages hit: ${JSON.stringify(stagesHit)}, all clean ` +
        `(train resumed from a checkpoint ${resumed.length} times; ${staleLocks} stale locks on finished keys; ${seconds} s)`,
    );
    assert.deepEqual(
      STAGES.filter((s) => !hits.has(s)),
      [],
      `every stage was killed at least once: ${JSON.stringify(stagesHit)}`,
    );
  } finally {
    rmSync(ws.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});
