// The parse cache must be invisible: a hit gives the same value and the same error locations as a
// fresh parse, a damaged entry is parsed again, and a changed file never hits an old entry.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import '../helpers/workspace.ts';
import type { Loc } from '../../src/errors.ts';
import { parseYamlText } from '../../src/pipeline/yaml-file.ts';

const TEXT = 'params:\n  train:\n    lr: 0.1\nstages:\n  s:\n    cmd: echo ${train.lr}\n    outs: [a, b]\n';

const place = (loc: Loc) => ({ file: loc.file, line: loc.line, col: loc.col });

test('a cache hit equals a fresh parse, values and locations alike', async () => {
  const dir = process.env.GPT2O_PARSE_CACHE!;
  const fresh = await parseYamlText('/p/pipeline.yaml', TEXT);
  const entries = readdirSync(dir).sort();
  assert.equal(entries.length, 2);
  assert.match(entries[1]!, /\.where\.json$/);
  const hit = await parseYamlText('/p/pipeline.yaml', TEXT);
  assert.deepEqual(hit.value, fresh.value);
  for (const [path, at] of [
    [['stages', 's', 'cmd'], 'value'],
    [['stages', 's', 'outs', 1], 'value'],
    [['params', 'train', 'lr'], 'key'],
    [['stages', 's', 'missing'], 'key'],
  ] as const) {
    assert.deepEqual(place(hit.locate(path, at)), place(fresh.locate(path, at)));
  }
  assert.deepEqual(place(hit.locate(['stages', 's', 'outs', 1])), {
    file: '/p/pipeline.yaml',
    line: 7,
    col: 15,
  });
  // Places are worked out when read, and serialize as plain places.
  assert.equal(
    JSON.stringify(hit.locate(['params', 'train', 'lr'], 'key')),
    '{"file":"/p/pipeline.yaml","line":3,"col":5}',
  );

  writeFileSync(join(dir, entries[0]!), '{"value": damaged');
  assert.deepEqual((await parseYamlText('/p/pipeline.yaml', TEXT)).value, fresh.value);
  const changed = await parseYamlText('/p/pipeline.yaml', TEXT.replace('0.1', '0.2'));
  assert.equal((changed.value as { params: { train: { lr: number } } }).params.train.lr, 0.2);
});

test('an entry with the wrong shape or a value nested too deep is a miss, never trusted', async () => {
  const dir = process.env.GPT2O_PARSE_CACHE!;
  const text = 'params:\n  x: [1]\nstages: {}\n';
  const fresh = await parseYamlText('/p/pipeline.yaml', text);
  const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
  const planted = [
    '{"value": {"params": 1}, "lineStarts": "no", "offsets": []}',
    '{"value": {"params": 1}, "lineStarts": [0], "offsets": [[1, 2]]}',
    '{"lineStarts": [0], "offsets": []}',
    `{"value": {"params": {"x": ${deep}}}, "lineStarts": [0], "offsets": []}`,
  ];
  for (const bad of planted) {
    for (const name of readdirSync(dir)) writeFileSync(join(dir, name), bad);
    assert.deepEqual((await parseYamlText('/p/pipeline.yaml', text)).value, fresh.value, bad.slice(0, 60));
  }
});

test('where things are is read only when a message asks, and a places file cut short is a miss', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2o-parsed-where-'));
  const saved = process.env.GPT2O_PARSE_CACHE;
  process.env.GPT2O_PARSE_CACHE = dir;
  try {
    const text = 'params:\n  lr: 0.5\nstages: {}\n';
    await parseYamlText('/p/e.yaml', text);
    const where = readdirSync(dir).find((f) => f.endsWith('.where.json'))!;
    const bytes = readFileSync(join(dir, where));

    // Cut short: the hit is refused, the file parsed again, and the place is right.
    writeFileSync(join(dir, where), bytes.subarray(0, bytes.length - 5));
    const reparsed = await parseYamlText('/p/e.yaml', text);
    assert.deepEqual(place(reparsed.locate(['params', 'lr'])), { file: '/p/e.yaml', line: 2, col: 7 });
    assert.deepEqual(readFileSync(join(dir, where)), bytes);

    // A hit whose places file is damaged after it was checked (same length): the value is right,
    // and the place falls back to the file's first line (the places were never read before).
    const hit = await parseYamlText('/p/e.yaml', text);
    writeFileSync(join(dir, where), Buffer.alloc(bytes.length, 0x20));
    assert.deepEqual(hit.value, { params: { lr: 0.5 }, stages: {} });
    assert.deepEqual(place(hit.locate(['params', 'lr'])), { file: '/p/e.yaml', line: 1, col: 1 });
  } finally {
    process.env.GPT2O_PARSE_CACHE = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
