// The no-op journal's pure core (src/run/noop-journal.ts): its text reads back as written (paths
// with tabs, paths that did not exist), anything else is not a journal, a changed stat of any kind
// is found, a run whose evidence changed while it ran is not remembered, and the journal's name
// tells apart every command line, environment and build. And the build stamp it is named with.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { StatKey } from '../../src/cache/stat-cache.ts';
import {
  decodeJournal,
  type Evidence,
  encodeJournal,
  firstChange,
  JOURNAL_FORMAT,
  journalName,
  type NoopJournal,
  racyEvidence,
} from '../../src/run/noop-journal.ts';
import { readStamp } from '../../src/util/build-id.ts';

const dir = mkdtempSync(join(tmpdir(), 'gpt2o-noop-journal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const then = Date.now() - 60_000 + 0.123456;
const stat = (ino: number, size = 3): StatKey => ({ size, mtimeMs: then, ctimeMs: then + 1.5, ino });

function journal(evidence: Evidence[]): NoopJournal {
  return {
    experiment: 'small',
    specFile: '/p/experiments/small.yaml',
    cacheRoot: '/p/cache',
    stages: [
      { name: 'prepare', key: 'a'.repeat(32), tree: 'b'.repeat(32) },
      { name: 'train', key: 'c'.repeat(32), tree: 'd'.repeat(32) },
    ],
    ended: ['prepare', 'train'],
    evidence,
  };
}

test('a journal reads back as written: stats to the last bit, tabs in paths, absent paths, stat or lstat', () => {
  const written = journal([
    { path: '/p/pipeline.yaml', follow: true, stat: stat(11) },
    { path: '/p/data/with\ttab and space.txt', follow: true, stat: stat(12, 0) },
    { path: '/p/cache/resume', follow: false, stat: null },
    { path: '/p/runs/small/train', follow: false, stat: stat(13, 42) },
  ]);
  const text = encodeJournal(written)!;
  assert.ok(text.startsWith(`${JOURNAL_FORMAT}\n`));
  assert.deepEqual(decodeJournal(text), written);
});

test('a path with a line break cannot be journaled; text that is not a whole journal reads as none', () => {
  assert.equal(encodeJournal(journal([{ path: '/p/a\nb', follow: true, stat: stat(1) }])), undefined);
  const text = encodeJournal(journal([{ path: '/p/a', follow: true, stat: stat(1) }]))!;
  assert.equal(decodeJournal(text.slice(0, -1)), undefined, 'cut short');
  assert.equal(decodeJournal(text.replace(JOURNAL_FORMAT, 'gpt2o-noop-v0')), undefined, 'other format');
  assert.equal(decodeJournal(text.replace('"experiment"', '"exp"')), undefined, 'head without experiment');
  assert.equal(decodeJournal(text.replace('\nS\t3\t', '\nS\tx\t')), undefined, 'a size that is no number');
  assert.equal(decodeJournal(text.replace('\nS\t', '\nX\t')), undefined, 'neither stat nor lstat');
  assert.equal(decodeJournal(`${JOURNAL_FORMAT}\n{not json\n`), undefined);
  assert.equal(decodeJournal(''), undefined);
});

test('firstChange finds a change in any field, a path that appeared or went, and only those', () => {
  const evidence: Evidence[] = [
    { path: '/a', follow: true, stat: stat(1) },
    { path: '/gone', follow: false, stat: null },
    { path: '/b', follow: false, stat: stat(2) },
  ];
  const now = new Map<string, StatKey>([
    ['/a', stat(1)],
    ['/b', stat(2)],
  ]);
  const look = (path: string) => now.get(path);
  assert.equal(firstChange(evidence, look), undefined);
  const changes: [string, StatKey | undefined][] = [
    ['/b', { ...stat(2), size: 4 }],
    ['/b', { ...stat(2), mtimeMs: then + 0.001 }],
    ['/b', { ...stat(2), ctimeMs: then + 2 }],
    ['/b', { ...stat(2), ino: 3 }],
    ['/b', undefined],
    ['/gone', stat(9)],
  ];
  for (const [path, changed] of changes) {
    const look2 = (p: string) => (p === path ? changed : now.get(p));
    assert.equal(firstChange(evidence, look2), path, JSON.stringify(changed));
  }
  // Stat or lstat is the caller's: it is told which.
  const asked: string[] = [];
  firstChange(evidence, (path, follow) => {
    asked.push(`${follow ? 'S' : 'L'}${path}`);
    return now.get(path);
  });
  assert.deepEqual(asked, ['S/a', 'L/gone', 'L/b']);
});

test('a run whose evidence changed after it began, or within the timestamp tick before, is not remembered', () => {
  const since = then + 10_000;
  const evidence: Evidence[] = [
    { path: '/old', follow: true, stat: stat(1) },
    { path: '/absent', follow: true, stat: null },
  ];
  assert.equal(racyEvidence(evidence, since), undefined);
  const late = (field: 'mtimeMs' | 'ctimeMs', at: number) => [
    ...evidence,
    { path: `/late-${field}`, follow: false, stat: { ...stat(2), [field]: at } },
  ];
  assert.equal(racyEvidence(late('mtimeMs', since + 5), since), '/late-mtimeMs');
  assert.equal(racyEvidence(late('ctimeMs', since - 1_999), since), '/late-ctimeMs');
  assert.equal(racyEvidence(late('ctimeMs', since - 2_001), since), undefined);
});

test('the journal name tells apart builds, folders, command lines and environments', () => {
  const base = { build: 'f'.repeat(32), cwd: '/p', args: ['/p/pipeline.yaml', 'train'], env: {} };
  const names = new Set([
    journalName(base),
    journalName({ ...base, build: 'e'.repeat(32) }),
    journalName({ ...base, cwd: '/q' }),
    journalName({ ...base, args: ['/p/pipeline.yaml', 'tr', 'ain'] }),
    journalName({ ...base, args: ['/p/pipeline.yaml', 'train', '--jobs', '1'] }),
    journalName({ ...base, env: { GPT2O_CACHE: '/c' } }),
    journalName({ ...base, env: { GPT2O_CACHE: '/d' } }),
    journalName({ ...base, env: { GPT2O_WORKERS: '/c' } }),
  ]);
  assert.equal(names.size, 8);
  assert.equal(journalName({ ...base }), journalName(base));
  assert.match(journalName(base), /^[0-9a-f]{40}$/);
});

test("the build stamp is read from a bundle's first line, and only from a stamped .cjs bundle", () => {
  const digest = '0123456789abcdef0123456789abcdef';
  const bundle = join(dir, 'cli.cjs');
  writeFileSync(bundle, `// gpt2o-pipe build ${digest}\n"use strict";\n${'x'.repeat(200)}\n`);
  assert.equal(readStamp(bundle), digest);
  const unstamped = join(dir, 'other.cjs');
  writeFileSync(unstamped, `// gpt2o-pipe build PLACEHOLDER_____________________\n`);
  assert.equal(readStamp(unstamped), undefined);
  const source = join(dir, 'cli.ts');
  writeFileSync(source, `// gpt2o-pipe build ${digest}\n`);
  assert.equal(readStamp(source), undefined, 'run from source: no build');
  assert.equal(readStamp(join(dir, 'missing.cjs')), undefined);
});
