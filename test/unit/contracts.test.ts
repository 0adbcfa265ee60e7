// The JSON files stages hand each other (stages/contracts/): each writer's bytes read back through
// its reader, and a malformed file is a StageError naming the file and the field, never a crash.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StageError } from '../../src/stage-api/index.ts';
import {
  type AudioManifest,
  readAudioManifest,
  writeAudioManifest,
} from '../../stages/contracts/audio-manifest.ts';
import { type CodecFacts, readCodecFacts, writeCodecFacts } from '../../stages/contracts/codec-facts.ts';
import {
  type CodesManifest,
  readCodesManifest,
  writeCodesManifest,
} from '../../stages/contracts/codes-manifest.ts';
import {
  type DownloadManifest,
  readDownloadListing,
  writeDownloadManifest,
} from '../../stages/contracts/download-manifest.ts';
import { readShardsMeta, type ShardsMetaFile, writeShardsMeta } from '../../stages/contracts/shards-meta.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function folder(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2o-contract-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
/** Asserts a StageError whose message matches `message`. */
function rejects(read: () => unknown, message: RegExp): void {
  assert.throws(read, (error: unknown) => {
    assert.ok(error instanceof StageError, String((error as Error)?.stack ?? error));
    assert.match(error.message, message);
    assert.match(error.hint ?? '', /this input must be the output of \w+/);
    return true;
  });
}

const download: DownloadManifest = {
  source: 'data/book',
  files: [{ file: 'audio/a.mp3', bytes: 3, sha256: 'ab'.repeat(32), url: 'data/book/a.mp3' }],
};
const audio: AudioManifest = {
  sample_rate: 24000,
  channels: 1,
  format: 'pcm16',
  quality: 'best',
  train_seconds: 2,
  val_seconds: 1.5,
  files: [
    {
      file: 'wav/a.wav',
      source: 'audio/a.mp3',
      split: 'val',
      seconds: 1.5,
      source_seconds: 1.5,
      samples: 36000,
      source_rate: 44100,
      source_channels: 2,
    },
  ],
  skipped: [{ source: 'audio/b.mp3', error: 'not audio' }],
};
const codes: CodesManifest = {
  codebook_size: 4096,
  sample_rate: 24000,
  hop_length: 512,
  chapters: [{ dir: 'codes/a', source: 'wav/a.wav', split: 'train', frames: 12, seconds: 1.024 }],
};
const meta: ShardsMetaFile = {
  layout: 'gpt2o',
  vocab_size: 4098,
  special: { separator: 4097 },
  codebook_size: 4096,
  tokens_per_frame: 8,
  sample_rate: 24000,
  hop_length: 512,
  train: { tokens: 80, frames: 10, audio_seconds: 0.8, shards: 1 },
  val: { tokens: 16, frames: 2, audio_seconds: 0.2, shards: 1 },
  total: { tokens: 96, frames: 12, audio_seconds: 1 },
  tokens_per_audio_second: 96,
};

const facts: CodecFacts = {
  sample_rate: 24000,
  hop_length: 512,
  levels: 3,
  strides: [4, 2, 1],
  frame_samples: 2048,
  pad_multiple: 2048,
  codebook_size: 4096,
  encoder: { input: 'audio', outputs: ['c0', 'c1', 'c2'] },
  decoder: { inputs: ['c0', 'c1', 'c2'], output: 'audio' },
  batch: { encoder: 'dynamic', decoder: 1 },
  random_ops: [],
};

describe('round trip: the bytes every producer always wrote, and what its readers get', () => {
  test('codec facts', async () => {
    const dir = folder();
    await writeCodecFacts(dir, facts);
    assert.equal(readFileSync(join(dir, 'codec.json'), 'utf8'), `${JSON.stringify(facts, null, 2)}\n`);
    const { levels: _l, batch: _b, random_ops: _r, ...view } = facts;
    assert.deepEqual(readCodecFacts(dir), view);
  });
  test('download manifest', async () => {
    const dir = folder();
    await writeDownloadManifest(dir, download);
    assert.equal(readFileSync(join(dir, 'manifest.json'), 'utf8'), `${JSON.stringify(download, null, 2)}\n`);
    assert.deepEqual(readDownloadListing(dir), { files: [{ file: 'audio/a.mp3' }] });
    assert.equal(readDownloadListing(folder()), undefined, 'no manifest: the folder is listed instead');
  });
  test('audio manifest', async () => {
    const dir = folder();
    await writeAudioManifest(dir, audio);
    assert.equal(readFileSync(join(dir, 'manifest.json'), 'utf8'), `${JSON.stringify(audio, null, 2)}\n`);
    assert.deepEqual(readAudioManifest(dir), {
      sample_rate: 24000,
      files: [{ file: 'wav/a.wav', split: 'val', seconds: 1.5 }],
    });
  });
  test('codes manifest', async () => {
    const dir = folder();
    await writeCodesManifest(dir, codes);
    assert.equal(readFileSync(join(dir, 'manifest.json'), 'utf8'), `${JSON.stringify(codes, null, 2)}\n`);
    const { source: _, ...chapter } = codes.chapters[0]!;
    assert.deepEqual(readCodesManifest(dir), { ...codes, chapters: [chapter] });
  });
  test('shards meta', async () => {
    const dir = folder();
    await writeShardsMeta(dir, meta);
    assert.equal(readFileSync(join(dir, 'meta.json'), 'utf8'), `${JSON.stringify(meta, null, 2)}\n`);
    assert.deepEqual(readShardsMeta(dir), {
      layout: 'gpt2o',
      vocab_size: 4098,
      codebook_size: 4096,
      tokens_per_frame: 8,
      sample_rate: 24000,
      train: { tokens: 80 },
      val: { tokens: 16 },
    });
  });
});

describe('a malformed file is an input error naming the file and the field', () => {
  const json = (value: unknown) => JSON.stringify(value);
  test('audio manifest: a wrong type, a missing field, a bad split, a path out of the input', () => {
    const file = audio.files[0]!;
    rejects(
      () =>
        readAudioManifest(
          folder({ 'manifest.json': json({ ...audio, files: [{ ...file, seconds: '1.5' }] }) }),
        ),
      /^the input's manifest\.json is not a valid audio manifest: files\[0\]\.seconds must be number, not "1\.5"$/,
    );
    rejects(
      () => readAudioManifest(folder({ 'manifest.json': json({ sample_rate: 24000 }) })),
      /^the input's manifest\.json is not a valid audio manifest: files is missing$/,
    );
    rejects(
      () =>
        readAudioManifest(
          folder({ 'manifest.json': json({ ...audio, files: [{ ...file, split: 'test' }] }) }),
        ),
      /files\[0\]\.split must be \("train" \| "val"\), not "test"$/,
    );
    rejects(
      () =>
        readAudioManifest(
          folder({
            'manifest.json': json({ sample_rate: '24000', files: [{ file: '/etc/passwd', split: 'x' }] }),
          }),
        ),
      /: sample_rate must be number, not "24000" \(and 3 more problems\)$/,
    );
    rejects(
      () =>
        readAudioManifest(
          folder({ 'manifest.json': json({ ...audio, files: [{ ...file, file: '../../x.wav' }] }) }),
        ),
      /files\[0\]\.file is "\.\.\/\.\.\/x\.wav", which is not a path inside it \("\.\." segment\)$/,
    );
  });
  test('not JSON, not an object, missing, a folder', () => {
    rejects(
      () => readCodesManifest(folder({ 'manifest.json': '{"chapters": [' })),
      /^the input has no readable manifest\.json \(.*JSON.*\)$/,
    );
    rejects(
      () => readShardsMeta(folder({ 'meta.json': 'null' })),
      /^the input's meta\.json is not a valid shards meta: the top level must be Object, not null$/,
    );
    rejects(() => readShardsMeta(folder()), /^the input has no readable meta\.json \(ENOENT\)$/);
    const dir = folder();
    rmSync(dir, { recursive: true });
    writeFileSync(`${dir}`, '');
    rejects(
      () => readDownloadListing(join(dir, 'x')),
      /^the input has no readable manifest\.json \(ENOTDIR\)$/,
    );
  });
  test('codes manifest: a chapter folder out of the input, frames that are no count', () => {
    const chapter = codes.chapters[0]!;
    rejects(
      () =>
        readCodesManifest(
          folder({ 'manifest.json': json({ ...codes, chapters: [{ ...chapter, dir: '/etc' }] }) }),
        ),
      /chapters\[0\]\.dir is "\/etc", which is not a folder inside it \(absolute path\)$/,
    );
    rejects(
      () =>
        readCodesManifest(
          folder({ 'manifest.json': json({ ...codes, chapters: [{ ...chapter, frames: 1.5 }] }) }),
        ),
      /chapters\[0\]\.frames must be an integer, not 1\.5$/,
    );
  });
  test('codec facts: a stride that is no count, a missing tensor name', () => {
    rejects(
      () => readCodecFacts(folder({ 'codec.json': json({ ...facts, strides: [4, 2, 0] }) })),
      /^the input's codec\.json is not a valid codec facts file: strides\[2\] must be >=1, not 0$/,
    );
    rejects(
      () => readCodecFacts(folder({ 'codec.json': json({ ...facts, decoder: { inputs: [] } }) })),
      /: decoder\.output is missing$/,
    );
  });
  test('shards meta: an unknown layout, a download listing with a non-string path', () => {
    rejects(
      () => readShardsMeta(folder({ 'meta.json': json({ ...meta, train: { tokens: -1 } }) })),
      /: train\.tokens must be >=0, not -1$/,
    );
    rejects(
      () => readShardsMeta(folder({ 'meta.json': json({ ...meta, layout: 'flat' }) })),
      /: layout must be \("gpt2o" \| "offset"\), not "flat"$/,
    );
    rejects(
      () => readDownloadListing(folder({ 'manifest.json': json({ files: [{ file: 7 }] }) })),
      /^the input's manifest\.json is not a valid download manifest: files\[0\]\.file must be string, not 7$/,
    );
  });
});
