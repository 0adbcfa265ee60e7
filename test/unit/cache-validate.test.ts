// Paths, manifests and liveness rules for what is read back from a (possibly shared) cache.
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { FOREIGN_STALE_MS, HOST, holderIsAlive, parseOwnerTag } from '../../src/cache/liveness.ts';
import { parseManifest, treePathProblem } from '../../src/cache/validate.ts';

const D = 'ab'.repeat(16);

test('tree paths must be relative, normalised, without .. or NUL', () => {
  for (const ok of ['a', 'a/b.txt', '.hidden', 'a/..b', 'x y/ü'])
    assert.equal(treePathProblem(ok), undefined, ok);
  const bad: [unknown, string][] = [
    ['', 'is empty'],
    ['/etc/passwd', 'is absolute'],
    ['../x', 'leaves its folder ("..")'],
    ['a/../../x', 'leaves its folder ("..")'],
    ['..', 'leaves its folder ("..")'],
    ['./a', 'is not normalised'],
    ['a//b', 'is not normalised'],
    ['a/', 'is not normalised'],
    ['a\0b', 'contains a NUL byte'],
    [42, 'is not a string'],
  ];
  for (const [path, problem] of bad) assert.equal(treePathProblem(path), problem, String(path));
});

test('the fast check of tree paths accepts exactly what posix.normalize leaves unchanged', () => {
  // The rule before the fast path: relative, no NUL, no "..", and normalize(path) === path.
  const reference = (p: string) =>
    p !== '' &&
    !p.includes('\0') &&
    !p.startsWith('/') &&
    !p.split('/').includes('..') &&
    !p.split('/').some((s) => s === '' || s === '.') &&
    posix.normalize(p) === p;
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', '.', '/', '\0', 'é'), { maxLength: 9 }), (chars) => {
      const path = chars.join('');
      assert.equal(treePathProblem(path) === undefined, reference(path), JSON.stringify(path));
    }),
    { numRuns: 5000 },
  );
});

test('a manifest is refused with the first thing wrong with it', () => {
  const m = (files: unknown[], dirs: unknown[] = []) => JSON.stringify({ format: 1, files, dirs });
  const f = (path: string, extra = {}) => ({ path, digest: D, size: 1, ...extra });
  assert.deepEqual(parseManifest(m([f('a'), f('b/c')], ['', 'd'])).files.length, 2);
  const cases: [string, RegExp][] = [
    ['{', /not JSON/],
    ['[]', /not a JSON object/],
    [JSON.stringify({ format: 2, files: [], dirs: [] }), /format 2/],
    [m([f('/abs')]), /is absolute/],
    [m([f('a'), f('a')]), /listed twice/],
    [m([f('a'), f('a/b')]), /"a" is listed as a file and holds "a\/b"/],
    [m([f('q/r/s'), f('q/r/t'), f('q')]), /"q" is listed as a file and holds "q\/r\/s"/],
    [m([f('a')], ['a']), /listed as a file and a folder/],
    [m([f('a')], ['../up']), /folder path "\.\.\/up" leaves its folder/],
    [m([{ path: 'a', digest: '../x', size: 1 }]), /no valid digest/],
    [m([f('a', { size: -1 })]), /no valid size/],
    [m([f('a', { exec: 'yes' })]), /invalid "exec"/],
  ];
  for (const [text, reason] of cases) assert.throws(() => parseManifest(text), reason, text);
});

test('a holder on another host is alive by its heartbeat, never by its pid', () => {
  const now = Date.now();
  assert.deepEqual(parseOwnerTag(`12@node-7.x~run-a-1`), { pid: 12, host: 'node-7.x' });
  assert.deepEqual(parseOwnerTag('12'), { pid: 12 });
  assert.equal(parseOwnerTag('notes.txt'), undefined);
  assert.equal(holderIsAlive({ pid: process.pid, host: HOST }, 0, now), true);
  assert.equal(holderIsAlive({ pid: 2 ** 22 + 1, host: HOST }, now, now), false);
  assert.equal(holderIsAlive({ pid: 2 ** 22 + 1, host: `${HOST}-other` }, now - 1000, now), true);
  assert.equal(
    holderIsAlive({ pid: process.pid, host: `${HOST}-other` }, now - FOREIGN_STALE_MS, now),
    false,
  );
  assert.equal(holderIsAlive({ pid: 2 ** 22 + 1 }, now - 1000, now), true);
});
