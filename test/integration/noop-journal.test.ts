// The no-op journal, through the built CLI (journals are kept only by a stamped bundle): a fully
// cached run is answered from it, with the very lines and --json the full run prints, and any
// change to what that answer rests on sends the run down the full path instead, which then does
// what it always did (reruns, repairs, relinks). Each situation starts from a journal written by a
// fully cached run (RACY wait: a journal keeps nothing changed in the 2 s before its run began).
import assert from 'node:assert/strict';
import {
  chmodSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryLock } from '../../src/cache/lock.ts';
import { CacheStore } from '../../src/cache/store.ts';
import { waitFor } from '../helpers/process.ts';
import { type CliResult, execCli, makeWorkspace, startCli, type Workspace } from '../helpers/workspace.ts';

const PIPELINE = [
  'params: {n: 1}',
  'stages:',
  '  prepare: {cmd: "cat data/a.txt > p.txt && ls data > list.txt", deps: [data], outs: [p.txt, list.txt]}',
  '  train:',
  '    cmd: "cat input/p.txt > t.txt && echo ${n} >> t.txt"',
  '    needs: {input: prepare}',
  '    outs: [t.txt]',
  '  report: {cmd: "cat t.txt > r.txt", deps: [t.txt], outs: [r.txt]}',
  '',
].join('\n');
const EXPERIMENT = 'extends: ../pipeline.yaml\nparams: {n: 2}\n';
const SPEC = 'experiments/small.yaml';

interface Situation {
  what: string;
  /** Done to a workspace whose journal was just written; returns extra `run` args and env. */
  change(ws: Workspace): { args?: string[]; env?: NodeJS.ProcessEnv } | undefined;
  /** The journal report line of the run after the change. */
  journal: RegExp;
  statuses: Record<string, string>;
  /** Checked after that run. */
  after?(ws: Workspace): void;
}

const ALL_CACHED = { prepare: 'cached', train: 'cached', report: 'cached' };
const ALL_RAN = { prepare: 'ran', train: 'ran', report: 'ran' };

/** The tree folder's file of a stage's output (the object's own inode), made writable. */
function outputFile(ws: Workspace, stage: string, file: string): string {
  const path = join(realpathSync(ws.path(`runs/small/${stage}`)), file);
  chmodSync(path, 0o644);
  return path;
}

const situations: Situation[] = [
  {
    what: 'nothing changed',
    change: () => undefined,
    journal: /^gpt2o-pipe: no-op journal used$/,
    statuses: ALL_CACHED,
  },
  {
    what: 'a param changed in the experiment',
    change: (ws) => void ws.write(SPEC, EXPERIMENT.replace('n: 2', 'n: 3')),
    journal: /stale: .*small\.yaml changed/,
    statuses: { prepare: 'cached', train: 'ran', report: 'ran' },
  },
  {
    what: 'the pipeline it extends changed',
    change: (ws) => void ws.write('pipeline.yaml', PIPELINE.replace('r.txt"', 'r.txt && true"')),
    journal: /stale: .*pipeline\.yaml changed/,
    statuses: { prepare: 'cached', train: 'cached', report: 'ran' },
  },
  {
    what: 'a dep file changed',
    change: (ws) => void ws.write('data/a.txt', 'other\n'),
    journal: /stale: .*data\/a\.txt changed/,
    statuses: ALL_RAN,
  },
  {
    what: 'a dep file rewritten with the same bytes',
    change: (ws) => void ws.write('data/a.txt', 'alpha\n'),
    journal: /stale: .*data\/a\.txt changed/,
    statuses: ALL_CACHED,
  },
  {
    what: 'a file added to a dep folder',
    change: (ws) => void ws.write('data/b.txt', 'beta\n'),
    journal: /stale: .*data changed/,
    // list.txt changes, so train's input does; its output does not (early cutoff for report).
    statuses: { prepare: 'ran', train: 'ran', report: 'cached' },
  },
  {
    what: 'an output object overwritten in place, same size',
    change: (ws) => void writeFileSync(outputFile(ws, 'train', 't.txt'), 'XXXXX\nX\n'),
    journal: /stale: .*t\.txt changed/,
    statuses: { prepare: 'cached', train: 'ran', report: 'cached' },
    after: (ws) => assert.equal(ws.read('runs/small/train/t.txt'), 'alpha\n2\n'),
  },
  {
    what: 'a run record removed',
    change: (ws) => {
      const key = JSON.parse(readFileSync(journalOf(ws), 'utf8').split('\n')[1]!).stages[2].key;
      rmSync(ws.path(`cache/actions/${key.slice(0, 2)}/${key}.json`));
      return undefined;
    },
    journal: /stale: .*\.json changed/,
    statuses: { prepare: 'cached', train: 'cached', report: 'ran' },
  },
  {
    what: 'a runs/ link removed',
    change: (ws) => void rmSync(ws.path('runs/small/train')),
    journal: /stale: .*runs\/small changed/,
    statuses: ALL_CACHED,
    after: (ws) => assert.equal(ws.read('runs/small/train/t.txt'), 'alpha\n2\n'),
  },
  {
    what: 'a runs/ link pointed elsewhere',
    change: (ws) => {
      const prepare = readlinkSync(ws.path('runs/small/prepare'));
      rmSync(ws.path('runs/small/train'));
      symlinkSync(prepare, ws.path('runs/small/train'));
      return undefined;
    },
    journal: /stale: .*runs\/small changed/,
    statuses: ALL_CACHED,
    after: (ws) => assert.equal(ws.read('runs/small/train/t.txt'), 'alpha\n2\n'),
  },
  {
    what: "the experiment's ref removed",
    change: (ws) => void rmSync(ws.path('cache/refs'), { recursive: true }),
    journal: /stale: .*refs\/.*\.json changed/,
    statuses: ALL_CACHED,
    after: (ws) => assert.match(readFileSync(refFile(ws), 'utf8'), /"experiment": "small"/),
  },
  {
    what: 'another --set',
    change: () => ({ args: ['--set', 'n=5'] }),
    journal: /absent/,
    statuses: { prepare: 'cached', train: 'ran', report: 'ran' },
  },
  {
    what: 'another cache ($GPT2O_CACHE)',
    change: (ws) => ({ env: { GPT2O_CACHE: ws.path('other-cache') } }),
    journal: /absent/,
    statuses: ALL_RAN,
  },
  {
    what: 'a journal that is not one',
    change: (ws) => void writeFileSync(journalOf(ws), 'gpt2o-noop-v1\n{"experiment": 1}\n'),
    journal: /absent/,
    statuses: ALL_CACHED,
  },
];

const journaled = () =>
  makeWorkspace({ 'pipeline.yaml': PIPELINE, [SPEC]: EXPERIMENT, 'data/a.txt': 'alpha\n' });
const workspaces = situations.map(journaled);
/** One more, for a run that meets gc holding the cache. */
const gcWait = journaled();
// A tree whose manifest is over 256 KiB is checked by its seal, faster than a line per file.
const bigTree = makeWorkspace({
  'pipeline.yaml': [
    'stages:',
    '  many:',
    `    cmd: mkdir -p out && awk 'BEGIN { for (i = 0; i < 4000; i++) print i > sprintf("out/%05d.txt", i) }'`,
    '    outs: [out]',
    '',
  ].join('\n'),
});
after(() => {
  for (const ws of [...workspaces, gcWait, bigTree]) ws.remove();
});

const REPORT = { GPT2O_NOOP_JOURNAL_REPORT: '1' };
/** Each workspace keeps its journals apart, so a test can find its one journal. */
const journalDir = (ws: Workspace) => ws.path('journals');
function run(ws: Workspace, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return execCli(ws.dir, ['run', SPEC, ...args], { GPT2O_NOOP_JOURNAL: journalDir(ws), ...REPORT, ...env });
}
function journalOf(ws: Workspace): string {
  const names = readdirSync(journalDir(ws));
  assert.equal(names.length, 1, `one journal in ${journalDir(ws)}: ${names}`);
  return join(journalDir(ws), names[0]!);
}
function refFile(ws: Workspace): string {
  const name = readdirSync(ws.path('cache/refs')).find((n: string) => n.endsWith('.json'))!;
  return ws.path(`cache/refs/${name}`);
}
/** What became of the journal: its report lines (a full run after a stale journal says two). */
function journalLine(result: CliResult): string {
  const lines = result.stderr.split('\n').filter((l) => l.startsWith('gpt2o-pipe: no-op journal'));
  return lines.length > 0 ? lines.join('\n') : '(none)';
}
function statuses(result: CliResult): Record<string, string> {
  const parsed = JSON.parse(result.stdout) as { stages: { name: string; status: string }[] };
  return Object.fromEntries(parsed.stages.map((s) => [s.name, s.status]));
}

before(async () => {
  assert.equal((await execCli(bigTree.dir, ['run'], { GPT2O_NOOP_JOURNAL: journalDir(bigTree) })).code, 0);
  for (const ws of [...workspaces, gcWait]) {
    const built = await run(ws, ['--json']);
    assert.equal(built.code, 0, built.stderr);
    assert.match(journalLine(built), /^.*absent\n.*not written: stage "prepare" ran$/);
  }
  await sleep(2200);
  for (const ws of [...workspaces, gcWait]) {
    const cached = await run(ws, ['--json']);
    assert.equal(cached.code, 0, cached.stderr);
    assert.match(journalLine(cached), /^.*absent\n.*written \(\d+ paths\)$/);
  }
});

for (const [i, situation] of situations.entries()) {
  test(`no-op journal: ${situation.what}`, async () => {
    const ws = workspaces[i]!;
    const extra = situation.change(ws) ?? {};
    const result = await run(ws, [...(extra.args ?? []), '--json'], extra.env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(journalLine(result), situation.journal);
    assert.deepEqual(statuses(result), situation.statuses);
    situation.after?.(ws);
  });
}

test('a journaled run prints what the full run prints, line for line, and the same --json', async () => {
  const ws = workspaces[0]!;
  const strip = (text: string) => text.replace(/ in [\d.]+m?s\n/g, ' in (time)\n');
  for (const args of [[], ['--json']]) {
    await run(ws, args); // writes the journal of this command line
    const full = await run(ws, args, { GPT2O_NOOP_JOURNAL: 'off' });
    assert.equal(full.code, 0, full.stderr);
    const journaled = await run(ws, args);
    assert.match(journalLine(journaled), /^gpt2o-pipe: no-op journal used$/);
    assert.equal(journalLine(full), '(none)');
    assert.equal(strip(journaled.stdout), strip(full.stdout));
    assert.equal(strip(journaled.stderr.replace(/^gpt2o-pipe: no-op journal.*\n/m, '')), strip(full.stderr));
  }
  assert.ok(readlinkSync(ws.path('runs/small/report')).includes('trees/'));
});

test('a run that ran a stage removes the journal it did not use', async () => {
  const ws = workspaces[1]!; // its param changed: train and report ran
  const next = await run(ws, ['--json']);
  assert.match(journalLine(next), /^gpt2o-pipe: no-op journal absent\n/);
  assert.deepEqual(statuses(next), ALL_CACHED);
});

test('a run serving a big tree is left to the full path, whose seal checks it faster', async () => {
  const result = await execCli(bigTree.dir, ['run'], { GPT2O_NOOP_JOURNAL: journalDir(bigTree), ...REPORT });
  assert.equal(result.code, 0, result.stderr);
  assert.match(journalLine(result), /not written: stage "many" serves a big tree/);
  assert.match(result.stdout, /1 stage: 0 ran, 1 cached/);
});

test('a journaled run waits while gc holds the cache, as any run does, and answers once it is done', async () => {
  const store = CacheStore.open(gcWait.path('cache'));
  // This process is the gc: it holds the maintenance lock, as `gc` does for its whole run.
  const lock = (await tryLock(store.layout.maintenanceLock))!;
  const started = startCli(gcWait.dir, ['run', SPEC, '--json'], {
    GPT2O_NOOP_JOURNAL: journalDir(gcWait),
    ...REPORT,
  });
  await waitFor(
    () => /waiting: gc or verify --repair/.test(started.output().stderr),
    'the run to wait for gc',
  );
  assert.equal(started.output().stdout, '', 'nothing is answered while gc holds the cache');
  await lock.release();
  const { code, stdout, stderr } = await started.finished;
  assert.equal(code, 0, stderr);
  assert.match(journalLine({ code, stdout, stderr }), /^gpt2o-pipe: no-op journal used$/);
  assert.deepEqual(statuses({ code, stdout, stderr }), ALL_CACHED);
});
