// The bad-input catalogue: one small case per kind of bad input a user can hand gpt2o-pipe, from a
// YAML typo to a corrupt MP3. Each asserts the exit code (2: spec or usage error, caught before
// anything runs; 1: a stage failed), a message that says where and what (file:line:col for spec
// errors, the stage for stage failures), and that nothing was cached for the failing stage: no run
// record for its key, and no record but those of the stages that succeeded. Several of these are
// also tested in depth elsewhere (spec-errors, download, resample, codec, model-stages); this file
// is the list the README points at.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { StageRegistry } from '../../src/stage-api/index.ts';
import { fixtureStages } from '../fixtures/stages/index.ts';
import { encodeMp3, tone, wavHeaderBytes } from '../helpers/audio.ts';
import { seededBytes, zipOf, zipWithRawName } from '../helpers/bytes.ts';
import { startServer, type TestServer } from '../helpers/http-server.ts';
import { buildTestCodec } from '../helpers/test-codec.ts';
import { cli, makeWorkspace } from '../helpers/workspace.ts';

/** What the cases build their files from, made once in before(). */
interface Inputs {
  server: TestServer;
  codec: { encoder: Uint8Array; decoder: Uint8Array };
  mp3: Uint8Array;
  zipSlip: Buffer;
}

interface Case {
  name: string;
  files: (inputs: Inputs) => Record<string, string | Uint8Array>;
  args?: string[];
  /** Added to the environment of the run. */
  env?: NodeJS.ProcessEnv;
  registry?: StageRegistry;
  code: 1 | 2;
  /** All must match stderr. For spec errors the first one should pin file:line:col and the code. */
  stderr: RegExp[];
  /** The stage that fails (exit 1). */
  failed?: string;
}

/** A one-stage download pipeline; JSON is YAML flow style. retry_base_ms keeps retries fast. */
const download = (params: Record<string, unknown>) =>
  `stages:\n  download:\n    uses: download\n    with: ${JSON.stringify({ retry_base_ms: 5, ...params })}\n`;

/** codes (fixture) → shard → train, with the params a case changes. */
const model = (params: {
  context_length?: number;
  micro_batch?: number;
  layout?: string;
  frames?: number[];
}) => {
  const p = { context_length: 16, micro_batch: 2, layout: 'gpt2o', frames: [20, 30, 30], ...params };
  return `params:
  tokens:
    layout: ${p.layout}
  train:
    context_length: ${p.context_length}
    micro_batch: ${p.micro_batch}
stages:
  codes:
    uses: fake-codes
    with: {seed: 1, frames: [${p.frames.join(', ')}]}
  shard:
    uses: shard
    needs: {codes: codes}
    with:
      layout: \${tokens.layout}
  train:
    uses: train
    needs: {shards: shard}
    with:
      n_layer: 1
      n_head: 1
      n_embd: 8
      vocab_size: null
      context_length: \${train.context_length}
      micro_batch: \${train.micro_batch}
      total_batch: 64
      max_steps: 2
      eval_interval: 1
      eval_steps: 1
      backend: cpu
`;
};

const CASES: Case[] = [
  // ---- spec errors (exit 2): located in the YAML, nothing runs
  {
    name: 'malformed YAML (an unclosed flow sequence)',
    files: () => ({ 'pipeline.yaml': 'stages:\n  a:\n    cmd: echo a > a\n    outs: [a\n' }),
    code: 2,
    stderr: [/^pipeline\.yaml:\d+:\d+ error E_SPEC_YAML\n {2}YAML syntax error: /m],
  },
  {
    name: 'a tab used as indentation',
    files: () => ({ 'pipeline.yaml': 'params:\n  a: 1\n\tb: 2\nstages: {}\n' }),
    code: 2,
    stderr: [/^pipeline\.yaml:3:1 error E_SPEC_YAML\n {2}YAML syntax error: Tabs are not allowed/m],
  },
  {
    name: 'a param overridden with another type in an experiment',
    files: () => ({
      'pipeline.yaml':
        'params:\n  train:\n    micro_batch: 8\nstages:\n  s:\n    cmd: echo ${train.micro_batch}\n',
      'experiments/x.yaml': 'extends: ../pipeline.yaml\nparams:\n  train:\n    micro_batch: eight\n',
    }),
    args: ['experiments/x.yaml'],
    code: 2,
    stderr: [/^experiments\/x\.yaml:4:5 error E_SPEC_PARAM_TYPE/m, /micro_batch/],
  },
  {
    name: 'a with: value of the wrong type',
    files: () => ({ 'pipeline.yaml': 'stages:\n  t:\n    uses: tone\n    with:\n      frequency: high\n' }),
    registry: fixtureStages,
    code: 2,
    stderr: [
      /^pipeline\.yaml:5:18 error E_SPEC_SCHEMA \(stage "t"\)/m,
      /frequency: expected number, got "high"/,
    ],
  },
  {
    name: 'an unknown key in a stage',
    files: () => ({ 'pipeline.yaml': 'stages:\n  a:\n    cmd: echo > x\n    outz: [x]\n' }),
    code: 2,
    stderr: [/^pipeline\.yaml:4:5 error E_SPEC_UNKNOWN_KEY/m, /unknown key "outz"/, /did you mean "outs"\?/],
  },
  {
    name: 'an unknown built-in stage',
    files: () => ({ 'pipeline.yaml': 'stages:\n  d:\n    uses: dowload\n' }),
    code: 2,
    stderr: [/^pipeline\.yaml:3:11 error E_SPEC_UNKNOWN_USES/m, /did you mean "download"\?/],
  },
  {
    name: 'an unknown ${param}',
    files: () => ({
      'pipeline.yaml': 'params:\n  lr: 1\nstages:\n  s:\n    cmd: echo ${rl} > o\n    outs: [o]\n',
    }),
    code: 2,
    stderr: [/^pipeline\.yaml:5:10 error E_SPEC_UNKNOWN_PARAM \(stage "s"\)/m, /unknown param \$\{rl\}/],
  },
  {
    name: 'a cycle',
    files: () => ({
      'pipeline.yaml':
        'stages:\n  a:\n    cmd: "true"\n    needs: [b]\n  b:\n    cmd: "true"\n    needs: [a]\n',
    }),
    code: 2,
    stderr: [
      /^pipeline\.yaml:\d+:13 error E_SPEC_CYCLE/m,
      /the stages form a cycle: (a -> b -> a|b -> a -> b)/,
    ],
  },
  {
    name: 'a stage that needs itself',
    files: () => ({ 'pipeline.yaml': 'stages:\n  a:\n    cmd: "true"\n    needs: [a]\n' }),
    code: 2,
    stderr: [/^pipeline\.yaml:4:13 error E_SPEC_SELF_DEPENDENCY/m],
  },
  {
    name: 'two stages with the same name',
    files: () => ({ 'pipeline.yaml': 'stages:\n  a:\n    cmd: "true"\n  a:\n    cmd: "false"\n' }),
    code: 2,
    stderr: [/^pipeline\.yaml:4:3 error E_SPEC_DUPLICATE_KEY\n {2}duplicate key "a"/m],
  },
  {
    name: 'a ${} loop between params',
    files: () => ({ 'pipeline.yaml': 'params:\n  a: ${b}\n  b: x${a}\nstages:\n  s:\n    cmd: echo ${a}\n' }),
    code: 2,
    stderr: [/^pipeline\.yaml:\d+:\d+ error E_SPEC_INTERPOLATION_LOOP/m, /a -> b -> a/],
  },
  {
    name: 'an experiment that extends itself',
    files: () => ({ 'experiments/a.yaml': 'extends: a.yaml\n' }),
    args: ['experiments/a.yaml'],
    code: 2,
    stderr: [/^experiments\/a\.yaml:1:10 error E_SPEC_EXTENDS_CYCLE/m],
  },
  {
    name: 'train.context_length: -1',
    files: () => ({ 'pipeline.yaml': model({ context_length: -1 }) }),
    registry: fixtureStages,
    code: 2,
    stderr: [/^pipeline\.yaml:\d+:\d+ error E_SPEC_SCHEMA \(stage "train"\)/m, /context_length/],
  },
  {
    name: 'train.micro_batch: 0',
    files: () => ({ 'pipeline.yaml': model({ micro_batch: 0 }) }),
    registry: fixtureStages,
    code: 2,
    stderr: [/^pipeline\.yaml:\d+:\d+ error E_SPEC_SCHEMA \(stage "train"\)/m, /micro_batch/],
  },
  {
    name: 'tokens.layout: nope',
    files: () => ({ 'pipeline.yaml': model({ layout: 'nope' }) }),
    registry: fixtureStages,
    code: 2,
    stderr: [/^pipeline\.yaml:\d+:\d+ error E_SPEC_SCHEMA \(stage "shard"\)/m, /"gpt2o" \| "offset"/],
  },
  {
    name: 'a malformed data source',
    files: () => ({ 'pipeline.yaml': download({ source: 'hf:only-owner' }) }),
    code: 2,
    stderr: [
      /^pipeline\.yaml:4:\d+ error E_SPEC_SCHEMA \(stage "download"\)/m,
      /needs a dataset as OWNER\/NAME/,
    ],
  },
  {
    name: 'a malformed --set',
    files: () => ({ 'pipeline.yaml': 'params:\n  lr: 1\nstages:\n  s:\n    cmd: echo ${lr}\n' }),
    args: ['--set', 'lr'],
    code: 2,
    stderr: [/error E_USAGE_SET/, /--set "lr" is not of the form a\.b\.c=value/],
  },
  {
    // It was ignored (one worker thread per core); a typo in it now says so.
    name: 'GPT2O_WORKERS that is not a positive integer',
    files: () => ({ 'pipeline.yaml': 'stages:\n  s:\n    cmd: echo hi > o\n    outs: [o]\n' }),
    env: { GPT2O_WORKERS: '0' },
    code: 2,
    stderr: [
      /error E_USAGE\b/,
      /GPT2O_WORKERS must be a positive integer, got "0"/,
      /hint: for example GPT2O_WORKERS=2/,
    ],
  },
  {
    // Both were read by the stages themselves, and a bad value was ignored.
    name: 'GPT2O_THREADS that is not a positive integer',
    files: () => ({ 'pipeline.yaml': 'stages:\n  s:\n    cmd: echo hi > o\n    outs: [o]\n' }),
    env: { GPT2O_THREADS: 'two' },
    code: 2,
    stderr: [/error E_USAGE\b/, /GPT2O_THREADS must be a positive integer, got "two"/],
  },
  {
    name: 'GPT2O_MEMORY_LIMIT that is not a size',
    files: () => ({ 'pipeline.yaml': 'stages:\n  s:\n    cmd: echo hi > o\n    outs: [o]\n' }),
    env: { GPT2O_MEMORY_LIMIT: 'lots' },
    code: 2,
    stderr: [
      /error E_USAGE\b/,
      /GPT2O_MEMORY_LIMIT must be a size such as 8G or 512M, got "lots"/,
      /hint: for example GPT2O_MEMORY_LIMIT=16G/,
    ],
  },

  // ---- stage failures (exit 1): the stage is named, nothing of it is cached
  {
    name: 'data.source pointing at a missing path',
    files: () => ({ 'pipeline.yaml': download({ source: 'no/such/folder' }) }),
    code: 1,
    failed: 'download',
    stderr: [
      /^pipeline\.yaml:4:\d+ error E_DEP_MISSING \(stage "download"\)/m,
      /dep "no\/such\/folder" of stage "download" does not exist/,
      /hint: built-in stage "download" reads it because of its with: values; check the path/,
    ],
  },
  {
    name: 'a cmd: dep that does not exist',
    files: () => ({
      'pipeline.yaml': 'stages:\n  s:\n    cmd: cat in.txt > o\n    deps: [in.txt]\n    outs: [o]\n',
    }),
    code: 1,
    failed: 's',
    stderr: [
      /^pipeline\.yaml:4:\d+ error E_DEP_MISSING \(stage "s"\)/m,
      /dep "in\.txt" of stage "s" does not exist/,
    ],
  },
  {
    name: 'a command that fails',
    files: () => ({
      'pipeline.yaml':
        'stages:\n  ok:\n    cmd: echo fine > ok.txt\n    outs: [ok.txt]\n  s:\n    cmd: cat ok.txt && echo broken >&2 && exit 3\n    deps: [ok.txt]\n    outs: [o]\n',
    }),
    code: 1,
    failed: 's',
    stderr: [/error E_STAGE_COMMAND \(stage "s"\)/, /\| broken/],
  },
  {
    name: 'a command that does not write its declared out',
    files: () => ({ 'pipeline.yaml': 'stages:\n  s:\n    cmd: echo > other.txt\n    outs: [o.txt]\n' }),
    code: 1,
    failed: 's',
    stderr: [/error E_STAGE_MISSING_OUT \(stage "s"\)/, /o\.txt/],
  },
  {
    name: 'an HTTP 404',
    files: ({ server }) => ({
      'pipeline.yaml': download({ source: server.url('/missing.mp3'), retries: 2 }),
    }),
    code: 1,
    failed: 'download',
    stderr: [
      /error E_\w+ \(stage "download"\)/,
      /GET http:\/\/127\.0\.0\.1:\d+\/missing\.mp3 failed: HTTP 404/,
    ],
  },
  {
    name: 'an HTTP 500 that does not go away',
    files: ({ server }) => ({ 'pipeline.yaml': download({ source: server.url('/down.mp3'), retries: 1 }) }),
    code: 1,
    failed: 'download',
    stderr: [/error E_\w+ \(stage "download"\)/, /down\.mp3 failed after 2 tries: HTTP 500/],
  },
  {
    name: 'a truncated zip',
    files: ({ server }) => ({ 'pipeline.yaml': download({ source: server.url('/truncated.zip') }) }),
    code: 1,
    failed: 'download',
    stderr: [/error E_\w+ \(stage "download"\)/, /truncated\.zip is not a readable zip archive/],
  },
  {
    name: 'a zip with a zip-slip entry',
    files: ({ zipSlip }) => ({
      'in/evil.zip': zipSlip,
      'pipeline.yaml': download({ source: 'in/evil.zip' }),
    }),
    code: 1,
    failed: 'download',
    stderr: [
      /error E_\w+ \(stage "download"\)/,
      /evil\.zip has an entry that would escape the output folder: "\.\.\/\.\.\/evil\.mp3"/,
    ],
  },
  {
    name: 'a zip over data.max_bytes',
    files: ({ server }) => ({
      'pipeline.yaml': download({ source: server.url('/zeros.zip'), max_bytes: 50_000 }),
    }),
    code: 1,
    failed: 'download',
    stderr: [
      /error E_\w+ \(stage "download"\)/,
      /zeros\.zip \(2 entries, uncompressed\) is 195 KiB, more than/,
    ],
  },
  {
    name: 'a corrupt MP3',
    files: ({ mp3 }) => {
      const corrupt = new Uint8Array(mp3);
      for (let i = 8000; i < 12000; i++) corrupt[i] = (i * 7919) & 0xff;
      return {
        'data/book_01.mp3': mp3,
        'data/book_02.mp3': corrupt,
        'pipeline.yaml': `stages:
  fetch:
    cmd: mkdir -p audio && cp data/* audio/
    deps: [data]
    outs: [audio]
  resample:
    uses: resample
    needs: {audio: fetch}
    with: {sample_rate: 16000, val_pattern: _01}
`,
      };
    },
    code: 1,
    failed: 'resample',
    stderr: [
      /error E_\w+ \(stage "resample"\)/,
      /cannot decode .*book_02\.mp3 near byte \d+ \(about frame \d+\): corrupt MPEG data/,
    ],
  },
  {
    name: 'a WAV whose header says sample rate 0 (skip mode: skipped, so no file is left)',
    files: () => ({
      'data/book_01.wav': wavHeaderBytes({ sampleRate: 0 }),
      'pipeline.yaml': `stages:
  fetch:
    cmd: mkdir -p audio && cp data/* audio/
    deps: [data]
    outs: [audio]
  resample:
    uses: resample
    needs: {audio: fetch}
    with: {on_bad_file: skip}
`,
    }),
    code: 1,
    failed: 'resample',
    stderr: [
      /error E_STAGE_FAILED \(stage "resample"\)/,
      /every input file failed to decode/,
      /skipped audio\/book_01\.wav: cannot decode .*book_01\.wav: its sample rate is 0 Hz/,
    ],
  },
  {
    name: 'an upstream manifest.json listing a file outside the input',
    files: () => ({
      'data/manifest.json': JSON.stringify({ files: [{ file: '../../../../../etc/hostname.mp3' }] }),
      'pipeline.yaml': `stages:
  fetch:
    cmd: cp data/manifest.json .
    deps: [data]
    outs: [manifest.json]
  resample:
    uses: resample
    needs: {audio: fetch}
`,
    }),
    code: 1,
    failed: 'resample',
    stderr: [
      /error E_STAGE_FAILED \(stage "resample"\)/,
      /manifest\.json is not a valid download manifest: files\[0\]\.file is "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/hostname\.mp3", which is not a path inside it \("\.\." segment\)/,
    ],
  },
  {
    // It was ignored: resample took every audio file of the folder instead of the listed ones.
    name: 'an upstream manifest.json that is not JSON',
    files: ({ mp3 }) => ({
      'data/manifest.json': '{"files": [{"file": "audio/a.mp3"}',
      'data/audio/a.mp3': mp3,
      'pipeline.yaml': `stages:
  fetch:
    cmd: cp -R data/. .
    deps: [data]
    outs: [manifest.json, audio]
  resample:
    uses: resample
    needs: {audio: fetch}
`,
    }),
    code: 1,
    failed: 'resample',
    stderr: [
      /error E_STAGE_FAILED \(stage "resample"\)/,
      /the input has no readable manifest\.json \(.*JSON.*\)/,
      /hint: this input must be the output of download, or of a stage writing the same manifest\.json/,
    ],
  },
  {
    name: 'an ONNX codec with the wrong contract (encoder and decoder swapped)',
    files: ({ codec }) => ({
      'models/encoder.onnx': codec.encoder,
      'models/decoder.onnx': codec.decoder,
      'pipeline.yaml':
        'stages:\n  codec:\n    uses: codec\n    with: {encoder: models/decoder.onnx, decoder: models/encoder.onnx}\n',
    }),
    registry: fixtureStages,
    code: 1,
    failed: 'codec',
    stderr: [
      /error E_\w+ \(stage "codec"\)/,
      /encoder: its inputs should be one audio tensor, got 3 \(codes_0, codes_1, codes_2\)/,
    ],
  },
  {
    name: 'shards smaller than one batch (a train split shorter than micro_batch × context)',
    // Train is chapters 2-3: 2 + 2 frames = 32 tokens; one batch of 2 × 16 needs 33. (A val split
    // that small is not an error: train logs that it has no val loss.)
    files: () => ({ 'pipeline.yaml': model({ frames: [20, 2, 2] }) }),
    registry: fixtureStages,
    code: 1,
    failed: 'train',
    stderr: [
      /error E_\w+ \(stage "train"\)/,
      /the train split has 32 tokens, fewer than one batch needs \(micro_batch × context_length \+ 1 = 33\)/,
    ],
  },
];

/** The run records in a cache folder: key and the stage that wrote each. */
function records(cache: string): { key: string; stage: string }[] {
  const dir = join(cache, 'actions');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { key: string; stage: string })
    .sort((a, b) => a.key.localeCompare(b.key));
}

describe('bad inputs', () => {
  let inputs: Inputs;

  before(async () => {
    const book = await zipOf({
      'book/ch01.mp3': seededBytes(40_000, 1),
      'book/ch02.mp3': seededBytes(30_000, 2),
    });
    const zipSlip = await zipWithRawName(
      { 'ok.mp3': seededBytes(100, 9), 'AAAAA/evil.mp3': seededBytes(500, 5) },
      'AAAAA/evil.mp3',
      '../../evil.mp3',
    );
    const server = await startServer({
      '/down.mp3': { body: seededBytes(1000, 3), failTimes: Number.POSITIVE_INFINITY },
      '/truncated.zip': { body: book.subarray(0, Math.floor(book.length * 0.6)) },
      // 200 kB of zeros that compress to almost nothing: the declared size is what counts.
      '/zeros.zip': { body: await zipOf({ 'a.wav': Buffer.alloc(100_000), 'b.wav': Buffer.alloc(100_000) }) },
    });
    inputs = { server, codec: buildTestCodec(), mp3: encodeMp3(tone(440, 44100, 2, 2), 44100, 128), zipSlip };
  });
  after(() => inputs.server.close());

  for (const c of CASES) {
    test(c.name, async () => {
      const ws = makeWorkspace({});
      try {
        for (const [rel, content] of Object.entries(c.files(inputs))) {
          mkdirSync(dirname(ws.path(rel)), { recursive: true });
          writeFileSync(ws.path(rel), content);
        }
        const r = await cli(ws.dir, ['run', ...(c.args ?? []), '--json'], {
          registry: c.registry,
          env: { ...process.env, GPT2O_CACHE: '', ...c.env },
        });
        const output = `exit ${r.code}\n${r.stderr}`;
        assert.equal(r.code, c.code, output);
        for (const pattern of c.stderr) assert.match(r.stderr, pattern);
        assert.doesNotMatch(r.stderr, /internal error/);
        const cached = records(ws.path('cache'));
        if (c.code === 2) {
          // A spec or usage error stops everything before any stage runs; --json says so on stdout.
          const error = JSON.parse(r.stdout) as { ok: boolean; errors: { code: string; message: string }[] };
          assert.equal(error.ok, false);
          assert.ok(
            error.errors.length > 0 && error.errors.every((e) => /^E_[A-Z_]+$/.test(e.code) && e.message),
          );
          assert.ok(r.stderr.includes(error.errors[0]!.code), 'the same error as on stderr');
          assert.deepEqual(cached, [], 'nothing was cached');
          return;
        }
        const outcome = JSON.parse(r.stdout) as {
          ok: boolean;
          stages: { name: string; status: string; key: string | null }[];
        };
        assert.equal(outcome.ok, false);
        const failed = outcome.stages.find((s) => s.name === c.failed);
        assert.equal(failed?.status, 'failed', output);
        // No record for the failed stage (by its key when it got one: a missing dep fails before),
        // and exactly one for each stage that ran: nothing else slipped in.
        assert.deepEqual(
          cached.filter((rec) => rec.stage === c.failed || rec.key === failed.key),
          [],
          `a run record was written for the failed ${c.failed}`,
        );
        const ran = outcome.stages.filter((s) => s.status === 'ran').map((s) => s.key!);
        assert.deepEqual(
          cached.map((rec) => rec.key),
          ran.sort(),
        );
        assert.equal(existsSync(ws.path(`runs/pipeline/${c.failed}`)), false, 'no runs/ link for it');
      } finally {
        ws.remove();
      }
    });
  }

  test('the catalogue', (t) => {
    assert.ok(CASES.length >= 25);
    t.diagnostic(`bad inputs: ${CASES.length} cases`);
  });
});
