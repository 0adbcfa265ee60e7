// The `download` stage through the real engine and CLI, against a real loopback HTTP server and real
// files: zips with subfolders, resume with Range, servers that ignore Range, retries, 4xx, a
// Hub-shaped API with a token, local folders/zips/file:// URLs, and the refusals (zip-slip, size
// limit, truncated zip, sha256 pin mismatch). Every assertion is on bytes, manifest and exit codes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { seededBytes, zipOf, zipWithRawName } from '../helpers/bytes.ts';
import { startServer, type TestServer } from '../helpers/http-server.ts';
import { cli, makeWorkspace, runJson, type Workspace } from '../helpers/workspace.ts';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function pipeline(params: Record<string, unknown>): string {
  // retry_base_ms keeps retries fast; JSON is valid YAML flow style.
  return `stages:\n  download:\n    uses: download\n    with: ${JSON.stringify({ retry_base_ms: 5, ...params })}\n`;
}

interface Manifest {
  source: string;
  files: { file: string; bytes: number; sha256: string; url: string }[];
}

/** Asserts the run's output is exactly `expected` (path inside audio/ → bytes), manifest included. */
function assertDownloaded(ws: Workspace, expected: Record<string, Buffer>): Manifest {
  const manifest = JSON.parse(ws.read('runs/pipeline/download/manifest.json')) as Manifest;
  const names = Object.keys(expected).sort();
  assert.deepEqual(
    manifest.files.map((f) => f.file),
    names.map((n) => `audio/${n}`),
  );
  for (const entry of manifest.files) {
    const want = expected[entry.file.slice('audio/'.length)]!;
    assert.equal(entry.bytes, want.length, entry.file);
    assert.equal(entry.sha256, sha256(want), entry.file);
    assert.equal(sha256(readFileSync(ws.path(`runs/pipeline/download/${entry.file}`))), sha256(want));
  }
  return manifest;
}

/** Writes binary content into the workspace (Workspace.write takes text). */
function writeBytes(ws: Workspace, rel: string, data: Buffer): string {
  mkdirSync(dirname(ws.path(rel)), { recursive: true });
  writeFileSync(ws.path(rel), data);
  return ws.path(rel);
}

function actionRecords(ws: Workspace): string[] {
  const dir = ws.path('cache/actions');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.json'));
}

const CHAPTERS = {
  'book/ch01.mp3': seededBytes(40_000, 1),
  'book/ch02.mp3': seededBytes(30_000, 2),
  'book/part2/ch03.flac': seededBytes(20_000, 3),
};
const SINGLE = seededBytes(300_000, 4);

describe('download stage', () => {
  let server: TestServer;
  let bookZip: Buffer;
  const workspaces: Workspace[] = [];
  const workspace = (files: Record<string, string> = {}) => {
    const ws = makeWorkspace(files);
    workspaces.push(ws);
    return ws;
  };

  before(async () => {
    bookZip = await zipOf({ ...CHAPTERS, 'book/README.txt': Buffer.from('not audio\n') });
    server = await startServer({
      '/book.zip': { body: bookZip },
      '/notes.zip': { body: await zipOf({ 'a.txt': Buffer.from('a'), 'b/c.pdf': Buffer.from('c') }) },
      // 200 kB of zeros: a tiny download that declares far more than it weighs.
      '/zeros.zip': { body: await zipOf({ 'a.wav': Buffer.alloc(100_000), 'b.wav': Buffer.alloc(100_000) }) },
      '/truncated.zip': { body: bookZip.subarray(0, Math.floor(bookZip.length * 0.6)) },
      '/drop.mp3': { body: SINGLE, dropFirst: true },
      '/norange.mp3': { body: SINGLE, dropFirst: true, ignoreRange: true },
      '/flaky.mp3': { body: SINGLE, failTimes: 2 },
      '/down.mp3': { body: SINGLE, failTimes: Number.POSITIVE_INFINITY },
      '/stall.mp3': { body: SINGLE, stall: true },
      '/pinned.mp3': { body: SINGLE },
    });
  });
  after(async () => {
    await server.close();
    for (const ws of workspaces) ws.remove();
  });

  test('a zip URL: audio extracted with its subfolders, include filters the rest, second run cached', async () => {
    const ws = workspace({ 'pipeline.yaml': pipeline({ source: server.url('/book.zip') }) });
    const r = await runJson(ws.dir);
    assert.equal(r.code, 0, r.stderr);
    const manifest = assertDownloaded(ws, CHAPTERS);
    assert.equal(manifest.source, server.url('/book.zip'));
    assert.ok(manifest.files.every((f) => f.url === server.url('/book.zip')));
    assert.equal(existsSync(ws.path('runs/pipeline/download/.partial')), false);
    const again = await runJson(ws.dir);
    assert.deepEqual(again.status, { download: 'cached' });
    assert.equal(server.hits('/book.zip').length, 1);
    // Retries and timeouts say how hard to try, not what arrives: they are out of the key.
    ws.write(
      'pipeline.yaml',
      pipeline({ source: server.url('/book.zip'), retries: 1, timeout_seconds: 5, retry_base_ms: 50 }),
    );
    assert.deepEqual((await runJson(ws.dir)).status, { download: 'cached' });
    ws.write('pipeline.yaml', pipeline({ source: server.url('/book.zip'), max_bytes: 1e9 }));
    assert.deepEqual((await runJson(ws.dir)).status, { download: 'ran' });
    assert.equal(server.hits('/book.zip').length, 2);
  });

  test('a dropped connection is resumed with Range, and the file is whole', async () => {
    const ws = workspace({ 'pipeline.yaml': pipeline({ source: server.url('/drop.mp3') }) });
    const r = await runJson(ws.dir);
    assert.equal(r.code, 0, r.stderr);
    assertDownloaded(ws, { 'drop.mp3': SINGLE });
    const [first, second] = server.hits('/drop.mp3');
    assert.equal(first?.range, undefined);
    assert.match(second?.range ?? '', /^bytes=[1-9]\d*-$/);
    assert.equal(second?.status, 206);
  });

  test('a server that ignores Range: the client restarts from byte 0 and still gets the right bytes', async () => {
    const ws = workspace({ 'pipeline.yaml': pipeline({ source: server.url('/norange.mp3') }) });
    const r = await runJson(ws.dir);
    assert.equal(r.code, 0, r.stderr);
    assertDownloaded(ws, { 'norange.mp3': SINGLE });
    const [, second] = server.hits('/norange.mp3');
    assert.ok(second?.range, 'the resume asked for a range');
    assert.equal(second?.status, 200);
  });

  test('500s are retried until the file comes', async () => {
    const ws = workspace({ 'pipeline.yaml': pipeline({ source: server.url('/flaky.mp3'), retries: 3 }) });
    const r = await runJson(ws.dir);
    assert.equal(r.code, 0, r.stderr);
    assertDownloaded(ws, { 'flaky.mp3': SINGLE });
    assert.deepEqual(
      server.hits('/flaky.mp3').map((h) => h.status),
      [500, 500, 200],
    );
  });

  test('a server that keeps failing: a clear error after the last try, exit code 1', async () => {
    const url = server.url('/down.mp3');
    const ws = workspace({ 'pipeline.yaml': pipeline({ source: url, retries: 2 }) });
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`GET ${url} failed after 3 tries: HTTP 500`), r.stderr);
    assert.match(r.stderr, /hint: .*raise retries:/);
    assert.equal(server.hits('/down.mp3').length, 3);
    assert.deepEqual(actionRecords(ws), []);
  });

  test('a 404 fails at once, without retries', async () => {
    const url = server.url('/missing.mp3');
    const ws = workspace({ 'pipeline.yaml': pipeline({ source: url, retries: 5 }) });
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`GET ${url} failed: HTTP 404`), r.stderr);
    assert.equal(server.hits('/missing.mp3').length, 1);
  });

  test('a server that goes silent is dropped after timeout_seconds and the error says so', async () => {
    const ws = workspace({
      'pipeline.yaml': pipeline({ source: server.url('/stall.mp3'), retries: 1, timeout_seconds: 0.2 }),
    });
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /failed after 2 tries: no data for 0\.2 s/);
  });

  test('Ctrl-C aborts a download in progress', async () => {
    const ws = workspace({ 'pipeline.yaml': pipeline({ source: server.url('/stall.mp3') }) });
    const controller = new AbortController();
    const started = Date.now();
    const seen = server.hits('/stall.mp3').length;
    const waitForRequest = setInterval(() => {
      if (server.hits('/stall.mp3').length > seen) controller.abort();
    }, 10);
    const r = await cli(ws.dir, ['run'], { signal: controller.signal }).finally(() =>
      clearInterval(waitForRequest),
    );
    assert.equal(r.code, 130, r.stderr);
    assert.ok(Date.now() - started < 5000);
  });

  test('a sha256 pin that does not match fails, names the file and both hashes, and caches nothing', async () => {
    const wrong = '0'.repeat(64);
    const ws = workspace({
      'pipeline.yaml': pipeline({ source: server.url('/pinned.mp3'), sha256: { 'pinned.mp3': wrong } }),
    });
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.ok(
      r.stderr.includes(`pinned.mp3 (from ${server.url('/pinned.mp3')}) has sha256 ${sha256(SINGLE)}`),
    );
    assert.ok(r.stderr.includes(`but sha256: pins ${wrong}`), r.stderr);
    assert.deepEqual(actionRecords(ws), []);

    ws.write(
      'pipeline.yaml',
      pipeline({ source: server.url('/pinned.mp3'), sha256: { 'pinned.mp3': sha256(SINGLE) } }),
    );
    assert.equal((await runJson(ws.dir)).code, 0);
  });

  test('a pin naming no downloaded file is an error that lists the real names', async () => {
    const ws = workspace({
      'pipeline.yaml': pipeline({ source: server.url('/book.zip'), sha256: { 'ch01.mp3': '0'.repeat(64) } }),
    });
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sha256: pins "ch01\.mp3", but no such file was downloaded/);
    assert.match(r.stderr, /"book\/ch01\.mp3"/);
  });

  test('a zip with no file matching include is an error listing what it holds', async () => {
    const ws = workspace({ 'pipeline.yaml': pipeline({ source: server.url('/notes.zip') }) });
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /notes\.zip has no file matching include \["\*\*\/\*\.mp3",.*it has a\.txt, b\/c\.pdf/,
    );
  });

  test('a truncated zip is reported as such', async () => {
    const ws = workspace({ 'pipeline.yaml': pipeline({ source: server.url('/truncated.zip') }) });
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /truncated\.zip is not a readable zip archive/);
    assert.match(r.stderr, /hint: it is truncated or corrupt/);
  });

  test('a zip-slip entry is refused by name and nothing lands outside the output', async () => {
    const evil = await zipWithRawName(
      { 'ok.mp3': seededBytes(100, 9), 'AAAAA/evil.mp3': seededBytes(500, 5) },
      'AAAAA/evil.mp3',
      '../../evil.mp3',
    );
    const ws = workspace();
    ws.write('pipeline.yaml', pipeline({ source: writeBytes(ws, 'in/evil.zip', evil) }));
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /evil\.zip has an entry that would escape the output folder: "\.\.\/\.\.\/evil\.mp3"/,
    );
    const everything = readdirSync(ws.dir, { recursive: true }).map(String);
    assert.deepEqual(
      everything.filter((f) => f.endsWith('evil.mp3') || f.endsWith('ok.mp3')),
      [],
    );
  });

  test('a zip whose declared size is over max_bytes is refused before extraction', async () => {
    const ws = workspace({
      'pipeline.yaml': pipeline({ source: server.url('/zeros.zip'), max_bytes: 50_000 }),
    });
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /zeros\.zip \(2 entries, uncompressed\) is 195 KiB, more than the 49 KiB left under max_bytes/,
    );
    // The download itself is also held to the limit.
    ws.write('pipeline.yaml', pipeline({ source: server.url('/book.zip'), max_bytes: 50_000 }));
    assert.match((await cli(ws.dir, ['run'])).stderr, /book\.zip is 88 KiB, more than the 49 KiB left/);
  });

  test('a local folder, a local zip and a file:// URL', async () => {
    const ws = workspace();
    for (const [name, data] of Object.entries(CHAPTERS)) writeBytes(ws, `src/${name}`, data);
    ws.write('src/book/cover.jpg', 'jpeg');

    ws.write('pipeline.yaml', pipeline({ source: ws.path('src') }));
    assert.equal((await runJson(ws.dir)).code, 0);
    const folder = assertDownloaded(ws, CHAPTERS);
    assert.equal(folder.files[0]!.url, pathToFileURL(ws.path('src/book/ch01.mp3')).href);

    ws.write('pipeline.yaml', pipeline({ source: writeBytes(ws, 'book.zip', bookZip) }));
    assert.equal((await runJson(ws.dir)).code, 0);
    assertDownloaded(ws, CHAPTERS);

    ws.write('pipeline.yaml', pipeline({ source: pathToFileURL(ws.path('src/book/ch02.mp3')).href }));
    assert.equal((await runJson(ws.dir)).code, 0);
    assertDownloaded(ws, { 'ch02.mp3': CHAPTERS['book/ch02.mp3'] });
  });

  test('a relative local source is relative to the project, and its content is part of the key', async () => {
    const ws = workspace();
    for (const [name, data] of Object.entries(CHAPTERS)) writeBytes(ws, `src/${name}`, data);
    ws.write('pipeline.yaml', pipeline({ source: 'src' }));
    const other = workspace();
    // Run from another folder: the source still resolves against the folder of pipeline.yaml.
    const first = await runJson(other.dir, [ws.path('pipeline.yaml')]);
    assert.equal(first.status.download, 'ran', first.stderr);
    const manifest = assertDownloaded(ws, CHAPTERS);
    // Named relative to the project: the output does not depend on where the project lives.
    assert.deepEqual(
      manifest.files.map((f) => f.url),
      Object.keys(CHAPTERS)
        .sort()
        .map((name) => `src/${name}`),
    );
    assert.equal((await runJson(ws.dir)).status.download, 'cached');
    const changed = { ...CHAPTERS, 'book/ch02.mp3': seededBytes(3000, 42) };
    writeBytes(ws, 'src/book/ch02.mp3', changed['book/ch02.mp3']!);
    const status = JSON.parse((await cli(ws.dir, ['status', 'pipeline.yaml', '--json'])).stdout);
    assert.deepEqual(status.experiments[0].stages[0].reasons, ['dep src changed']);
    assert.equal((await runJson(ws.dir)).status.download, 'ran');
    assertDownloaded(ws, changed);
  });

  test('a malformed source is a spec error at its place in the YAML', async () => {
    const ws = workspace({ 'pipeline.yaml': pipeline({ source: 'hf:only-owner' }) });
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /pipeline\.yaml:4:\d+ error E_SPEC_SCHEMA/);
    assert.match(r.stderr, /"hf:only-owner" needs a dataset as OWNER\/NAME after "hf:"/);
  });
});

describe('download stage: Hugging Face datasets', () => {
  const files = { 'data/train/a.mp3': seededBytes(10_000, 6), 'data/b.flac': seededBytes(12_000, 7) };
  const chapters = Object.fromEntries(
    Array.from({ length: 6 }, (_, i) => [`ch_0${i + 1}.mp3`, seededBytes(8192, 20 + i)]),
  );
  let server: TestServer;
  const saved = { HF_ENDPOINT: process.env.HF_ENDPOINT, HF_TOKEN: process.env.HF_TOKEN };
  const auth = 'Bearer hf_test_token';

  before(async () => {
    const siblings = ['.gitattributes', 'README.md', ...Object.keys(files)].map((rfilename) => ({
      rfilename,
    }));
    const routes: Parameters<typeof startServer>[0] = {
      '/api/datasets/someone/book': { json: { id: 'someone/book', siblings }, auth },
      '/api/datasets/someone/book/revision/v1': { json: { siblings: siblings.slice(2, 3) }, auth },
    };
    for (const [path, body] of Object.entries(files)) {
      routes[`/datasets/someone/book/resolve/main/${path}`] = { body, auth };
      routes[`/datasets/someone/book/resolve/v1/${path}`] = { body, auth };
    }
    // A book of slow chapters (80 ms each), one of which is missing in the "broken" dataset.
    const listing = Object.keys(chapters).map((rfilename) => ({ rfilename }));
    routes['/api/datasets/someone/chapters'] = { json: { siblings: listing }, auth };
    routes['/api/datasets/someone/broken'] = { json: { siblings: listing }, auth };
    for (const [path, body] of Object.entries(chapters)) {
      routes[`/datasets/someone/chapters/resolve/main/${path}`] = { body, auth, pieceDelayMs: 10 };
      if (path !== 'ch_03.mp3')
        routes[`/datasets/someone/broken/resolve/main/${path}`] = { body, auth, pieceDelayMs: 10 };
    }
    server = await startServer(routes);
    process.env.HF_ENDPOINT = server.origin;
  });
  after(async () => {
    await server.close();
    for (const [key, value] of Object.entries(saved))
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
  });

  test('lists through the API, downloads each file with the token, keeps repo paths', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': pipeline({ source: 'hf:someone/book' }) });
    try {
      delete process.env.HF_TOKEN;
      const denied = await cli(ws.dir, ['run']);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /HTTP 401[\s\S]*hint: .*HF_TOKEN/);

      process.env.HF_TOKEN = 'hf_test_token';
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0, r.stderr);
      const manifest = assertDownloaded(ws, files);
      assert.equal(
        manifest.files.find((f) => f.file === 'audio/data/b.flac')?.url,
        `${server.origin}/datasets/someone/book/resolve/main/data/b.flac`,
      );
      const served = server.requests.filter((q) => q.status === 200);
      assert.equal(served.length, 3);
      assert.ok(served.every((q) => q.authorization === auth));
    } finally {
      ws.remove();
    }
  });

  test('files are fetched several at a time, into a manifest sorted by name', async () => {
    process.env.HF_TOKEN = 'hf_test_token';
    const ws = makeWorkspace({ 'pipeline.yaml': pipeline({ source: 'hf:someone/chapters' }) });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0, r.stderr);
      const manifest = assertDownloaded(ws, chapters);
      assert.deepEqual(
        manifest.files.map((f) => f.file),
        Object.keys(chapters).map((c) => `audio/${c}`),
      );
      assert.ok(server.maxInFlight() >= 2, `at most ${server.maxInFlight()} transfers at once`);
    } finally {
      ws.remove();
    }
  });

  test('one missing file fails the download naming it, and stops the others', async () => {
    process.env.HF_TOKEN = 'hf_test_token';
    const ws = makeWorkspace({ 'pipeline.yaml': pipeline({ source: 'hf:someone/broken' }) });
    try {
      const r = await cli(ws.dir, ['run']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /HTTP 404.*ch_03\.mp3|ch_03\.mp3.*HTTP 404/s);
      assert.deepEqual(actionRecords(ws), [], 'nothing cached');
      // Files after the failure were never asked for (4 at a time: ch_05 starts only when one ends).
      assert.equal(server.hits('/datasets/someone/broken/resolve/main/ch_06.mp3').length, 0);
    } finally {
      ws.remove();
    }
  });

  test('max_bytes holds for the sum of files fetched at once, when the API gives no sizes', async () => {
    process.env.HF_TOKEN = 'hf_test_token';
    // Each chapter (8.2 KB) fits, four of them at once do not.
    const ws = makeWorkspace({
      'pipeline.yaml': pipeline({ source: 'hf:someone/chapters', max_bytes: 20_000 }),
    });
    try {
      const r = await cli(ws.dir, ['run']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /hf:someone\/chapters@main \(6 files\) is more than the 20 KiB left under max_bytes/,
      );
      assert.deepEqual(actionRecords(ws), [], 'nothing cached');
    } finally {
      ws.remove();
    }
  });

  test('hf:OWNER/NAME@revision lists and resolves at that revision', async () => {
    process.env.HF_TOKEN = 'hf_test_token';
    const ws = makeWorkspace({ 'pipeline.yaml': pipeline({ source: 'hf:someone/book@v1' }) });
    try {
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0, r.stderr);
      assertDownloaded(ws, { 'data/train/a.mp3': files['data/train/a.mp3'] });
      assert.equal(server.hits('/datasets/someone/book/resolve/v1/data/train/a.mp3').length, 1);
    } finally {
      ws.remove();
    }
  });
});
