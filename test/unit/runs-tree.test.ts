// runs/<experiment>/<stage> links: the relative target worked out once per folder equals what
// path.relative gives, for every kind of path a run links.
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { relativeTarget } from '../../src/run/runs-tree.ts';

test('relativeTarget equals path.relative', () => {
  const segment = fc.constantFrom('a', 'runs', 'cache', 'trees', 'logs', 'x.y', '..', '.', 'ab12');
  const path = fc.array(segment, { minLength: 0, maxLength: 5 }).map((parts) => `/${parts.join('/')}`);
  const target = fc.tuple(path, fc.constantFrom('', '/', '/f.log', '/0123abcd')).map(([p, end]) => p + end);
  fc.assert(
    fc.property(path, target, (dir, to) => {
      assert.equal(relativeTarget(dir, to), relative(dir, to));
      // Asked again, from the memo.
      assert.equal(relativeTarget(dir, to), relative(dir, to));
    }),
    { numRuns: 5000 },
  );
  assert.equal(relativeTarget('/p/runs/demo', '/p/cache/trees/ab'), '../../cache/trees/ab');
  assert.equal(relativeTarget('runs/demo', 'cache/logs/k.log'), relative('runs/demo', 'cache/logs/k.log'));
});
