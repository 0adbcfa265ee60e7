// The stat cache is one line per file (stat, digest, path): what it saves reads back the same, a
// changed stat is a miss, concurrent savers merge, and a damaged file starts over instead of failing.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { StatCache, type StatKey } from '../../src/cache/stat-cache.ts';

const dir = mkdtempSync(join(tmpdir(), 'gpt2o-stat-cache-'));
const tmp = join(dir, 'tmp');
mkdirSync(tmp);
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A file's stat as the cache compares it, last changed a minute ago (the cache takes no file
 * changed in the last 2 s, and a real file's ctime cannot be set back). The cache never reads it.
 */
let inode = 1000;
function settledFile(name: string): { path: string; stat: StatKey } {
  const then = Date.now() - 60_000 + 0.123456;
  return { path: join(dir, name), stat: { size: 3, mtimeMs: then, ctimeMs: then + 1, ino: inode++ } };
}

test('what one process saves, the next reads back; a path with tabs too; a changed stat is a miss', () => {
  const file = join(dir, 'a.txt');
  const plain = settledFile('plain.txt');
  const tabbed = settledFile('with\ttab.txt');
  const saved = new StatCache(file);
  saved.remember(plain.path, plain.stat, 'd1');
  saved.remember(tabbed.path, tabbed.stat, 'd2');
  saved.save(tmp);
  assert.match(readFileSync(file, 'utf8'), /^gpt2o-stat-cache 2\n/);

  const read = new StatCache(file);
  assert.equal(read.known(plain.path, plain.stat), 'd1');
  assert.equal(read.known(tabbed.path, tabbed.stat), 'd2');
  assert.equal(read.known(plain.path, { ...plain.stat, ctimeMs: plain.stat.ctimeMs + 1 }), undefined);
  assert.equal(read.known(plain.path, { ...plain.stat, size: plain.stat.size + 1 }), undefined);
  assert.equal(read.known(join(dir, 'other'), plain.stat), undefined);
});

test('a path with a line break is not remembered; a file changed just now is not either', () => {
  const file = join(dir, 'b.txt');
  const broken = settledFile('line\nbreak.txt');
  const fresh = join(dir, 'fresh.txt');
  writeFileSync(fresh, 'y');
  const cache = new StatCache(file);
  cache.remember(broken.path, broken.stat, 'd1');
  cache.remember(fresh, statSync(fresh), 'd2');
  cache.save(tmp);
  const read = new StatCache(file);
  assert.equal(read.known(broken.path, broken.stat), undefined);
  assert.equal(read.known(fresh, statSync(fresh)), undefined);
});

test('two savers merge (the later wins per path); a damaged or foreign file starts over', () => {
  const file = join(dir, 'c.txt');
  const one = settledFile('one.txt');
  const two = settledFile('two.txt');
  const first = new StatCache(file);
  const second = new StatCache(file);
  first.remember(one.path, one.stat, 'first');
  second.remember(two.path, two.stat, 'second');
  second.remember(one.path, one.stat, 'second');
  second.save(tmp);
  first.save(tmp);
  const read = new StatCache(file);
  assert.equal(read.known(one.path, one.stat), 'first');
  assert.equal(read.known(two.path, two.stat), 'second');

  // A torn last line and a line with too few fields are dropped, the rest kept.
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, `${text}1\t2\tnot enough\n1\t2\t3\t4\td\t/torn`);
  assert.equal(new StatCache(file).known(two.path, two.stat), 'second');
  assert.equal(new StatCache(file).known('/torn', { size: 1, mtimeMs: 2, ctimeMs: 3, ino: 4 }), undefined);
  // The old JSON format (or anything else) is not ours: nothing known, no error.
  writeFileSync(file, JSON.stringify({ [two.path]: [two.stat.size, 0, 0, 0, 'x'] }));
  assert.equal(new StatCache(file).known(two.path, two.stat), undefined);
});
