// The resample stage through the real engine, on chapters the test makes: MP3s at several rates
// and channel counts (one with a big ID3v2 picture, one VBR-like, one very short), a WAV and a FLAC.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import wavefile from 'wavefile';
import {
  concat,
  encodeMp3,
  id3v2Tag,
  readWavWithWavefile,
  tone,
  toneFrequency,
  wavHeaderBytes,
} from '../helpers/audio.ts';
import { encodeFlac } from '../helpers/flac.ts';
import { cli, makeWorkspace, runJson, type Workspace } from '../helpers/workspace.ts';

const PIPELINE = `params:
  audio: {sample_rate: 24000}
  data: {val_pattern: _01_, on_bad_file: fail}
stages:
  fetch:
    cmd: mkdir -p audio && cp data/* audio/
    deps: [data]
    outs: [audio]
  resample:
    uses: resample
    needs: {audio: fetch}
    with:
      sample_rate: \${audio.sample_rate}
      val_pattern: \${data.val_pattern}
      on_bad_file: \${data.on_bad_file}
`;

interface Manifest {
  sample_rate: number;
  files: {
    file: string;
    source: string;
    split: string;
    seconds: number;
    source_seconds: number;
    samples: number;
    source_rate: number;
    source_channels: number;
  }[];
  skipped: { source: string; error: string }[];
}

function pcm16Wav(channels: Float32Array[], rate: number): Uint8Array {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(
    channels.length,
    rate,
    '16',
    channels.map((c) => Array.from(c, (s) => Math.round(s * 32767))),
  );
  return wav.toBuffer();
}

describe('resample', () => {
  let ws: Workspace;
  const sources: Record<string, { seconds: number; rate: number }> = {};

  before(() => {
    ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    mkdirSync(ws.path('data'));
    const put = (name: string, bytes: Uint8Array, seconds: number, rate: number) => {
      writeFileSync(ws.path(`data/${name}`), bytes);
      sources[name] = { seconds, rate };
    };
    // Chapter 01: 44.1 kHz stereo CBR with a 200 kB picture in its ID3v2 tag.
    put(
      'book_01_doyle.mp3',
      concat([id3v2Tag(200_000), encodeMp3(tone(440, 44100, 3, 2), 44100, 128)]),
      3,
      44100,
    );
    // Chapter 02: 22.05 kHz mono.
    put('book_02_doyle.mp3', encodeMp3(tone(440, 22050, 2, 1), 22050, 64), 2, 22050);
    // Chapter 03: 48 kHz stereo, bitrate changing every second (128, 192, 320 kbit/s frames).
    const [l, r] = tone(440, 48000, 3, 2);
    const parts = [128, 192, 320].map((kbps, i) =>
      encodeMp3(
        [l!.subarray(i * 48000, (i + 1) * 48000), r!.subarray(i * 48000, (i + 1) * 48000)],
        48000,
        kbps,
      ),
    );
    put('book_03_doyle.mp3', concat(parts), 3, 48000);
    // Chapter 04: a very short file (0.05 s).
    put('book_04_doyle.mp3', encodeMp3(tone(440, 44100, 0.05, 2), 44100, 128), 0.05, 44100);
    // Chapter 05: 16 kHz stereo PCM WAV.
    put('book_05_doyle.wav', pcm16Wav(tone(440, 16000, 2, 2), 16000), 2, 16000);
    // Chapter 08: 32 kHz stereo FLAC.
    put('book_08_doyle.flac', encodeFlac(tone(440, 32000, 2, 2), 32000), 2, 32000);
  });
  after(() => ws.remove());

  test('every chapter becomes 24 kHz mono with its pitch and duration, chapter 01 held out', async () => {
    const r = await runJson(ws.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.status, { fetch: 'ran', resample: 'ran' });
    const manifest = JSON.parse(ws.read('runs/pipeline/resample/manifest.json')) as Manifest;
    assert.equal(manifest.sample_rate, 24000);
    assert.deepEqual(
      manifest.files.map((f) => [f.file, f.split, f.source_rate, f.source_channels]),
      [
        ['wav/book_01_doyle.wav', 'val', 44100, 2],
        ['wav/book_02_doyle.wav', 'train', 22050, 1],
        ['wav/book_03_doyle.wav', 'train', 48000, 2],
        ['wav/book_04_doyle.wav', 'train', 44100, 2],
        ['wav/book_05_doyle.wav', 'train', 16000, 2],
        ['wav/book_08_doyle.wav', 'train', 32000, 2],
      ],
    );
    for (const f of manifest.files) {
      const source = sources[f.source.replace('audio/', '')]!;
      const wav = readWavWithWavefile(readFileSync(ws.path(`runs/pipeline/resample/${f.file}`)));
      assert.equal(wav.sampleRate, 24000);
      assert.equal(wav.samples.length, f.samples);
      // Resampling keeps the decoded duration to within one output sample…
      assert.ok(
        Math.abs(f.seconds - f.source_seconds) <= 1 / 24000,
        `${f.file}: ${f.seconds}s vs ${f.source_seconds}s decoded`,
      );
      // …and decoding keeps the encoded one, up to the encoder's delay and padding (lamejs writes no
      // gapless header, so up to two frames per encoded segment come out as extra silence).
      const segments = f.file.includes('book_03') ? 3 : 1;
      const slack =
        f.file.endsWith('.wav') && f.source.endsWith('.wav')
          ? 1 / source.rate
          : (2 * segments * 1152) / source.rate;
      assert.ok(
        Math.abs(f.source_seconds - source.seconds) <= slack,
        `${f.file}: decoded ${f.source_seconds}s of ${source.seconds}s`,
      );
      if (source.seconds >= 1) {
        // book_03 joins separately encoded seconds: measure within its first one.
        const hz = f.file.includes('book_03')
          ? toneFrequency(wav.samples, 24000, 0.08, 0.3)
          : toneFrequency(wav.samples, 24000);
        assert.ok(Math.abs(hz - 440) < 0.5, `${f.file}: ${hz} Hz`);
      }
    }
  });

  test('a second run is cached; changing audio.sample_rate reruns resample only', async () => {
    assert.deepEqual((await runJson(ws.dir)).status, { fetch: 'cached', resample: 'cached' });
    const r = await runJson(ws.dir, ['--set', 'audio.sample_rate=16000']);
    assert.deepEqual(r.status, { fetch: 'cached', resample: 'ran' });
    const manifest = JSON.parse(ws.read('runs/pipeline/resample/manifest.json')) as Manifest;
    const wav = readWavWithWavefile(readFileSync(ws.path('runs/pipeline/resample/wav/book_01_doyle.wav')));
    assert.equal(manifest.sample_rate, 16000);
    assert.equal(wav.sampleRate, 16000);
    assert.ok(Math.abs(toneFrequency(wav.samples, 16000) - 440) < 0.5);
  });

  test('a corrupt MP3 fails the stage naming the file and the byte; skip mode leaves it out', async () => {
    const good = encodeMp3(tone(440, 44100, 2, 2), 44100, 128);
    const corrupt = new Uint8Array(good);
    for (let i = 8000; i < 12000; i++) corrupt[i] = (i * 7919) & 0xff;
    writeFileSync(ws.path('data/book_06_doyle.mp3'), corrupt);
    const failed = await runJson(ws.dir);
    assert.equal(failed.code, 1);
    assert.match(
      failed.stderr,
      /cannot decode .*book_06_doyle\.mp3 near byte \d+ \(about frame \d+\): corrupt MPEG data/,
    );
    assert.match(failed.stderr, /hint: replace the file, or set data\.on_bad_file: skip/);

    const skipped = await runJson(ws.dir, ['--set', 'data.on_bad_file=skip']);
    assert.equal(skipped.code, 0, skipped.stderr);
    const manifest = JSON.parse(ws.read('runs/pipeline/resample/manifest.json')) as Manifest;
    assert.deepEqual(
      manifest.skipped.map((s) => s.source),
      ['audio/book_06_doyle.mp3'],
    );
    assert.equal(manifest.files.length, 6);
    assert.match(ws.read('runs/pipeline/resample.log'), /warning: skipped audio\/book_06_doyle\.mp3/);
  });

  test('a truncated MP3 is reported with the offset of the cut frame', async () => {
    const good = encodeMp3(tone(440, 44100, 1, 2), 44100, 128);
    writeFileSync(ws.path('data/book_06_doyle.mp3'), good.subarray(0, good.length - 100));
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /book_06_doyle\.mp3 at byte \d+ \(frame \d+\): the file is truncated: its last MPEG frame is cut short/,
    );
  });
});

// Every header a user's file may carry, however wrong, is an input error naming the file and what
// is wrong with it: skippable with on_bad_file: skip, never a crash of the stage.
describe('resample on bad headers', () => {
  /** A LIST chunk of odd size with its pad byte: legal, and must not throw the chunk walk off. */
  const oddList = Buffer.from([...Buffer.from('LIST'), 3, 0, 0, 0, 0x61, 0x62, 0x63, 0]);
  const guidTail = [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71];
  const BAD: Record<string, { bytes: Uint8Array | 'folder'; error: RegExp }> = {
    'rate_0.wav': { bytes: wavHeaderBytes({ sampleRate: 0 }), error: /its sample rate is 0 Hz/ },
    'rate_huge.wav': {
      bytes: wavHeaderBytes({ sampleRate: 0xffffffff }),
      error: /its sample rate is 4294967295 Hz \(resample reads 1000 to 768000 Hz\)/,
    },
    'rate_1.wav': { bytes: wavHeaderBytes({ sampleRate: 1 }), error: /its sample rate is 1 Hz/ },
    'channels_0.wav': { bytes: wavHeaderBytes({ channels: 0 }), error: /it has 0 channels/ },
    'bits_0.wav': {
      bytes: wavHeaderBytes({ bitsPerSample: 0 }),
      error: /unsupported bit depth 0 for PCM \(8, 16, 24 or 32\)/,
    },
    'bits_7.wav': { bytes: wavHeaderBytes({ bitsPerSample: 7 }), error: /unsupported bit depth 7 for PCM/ },
    'bits_12.wav': {
      bytes: wavHeaderBytes({ bitsPerSample: 12 }),
      error: /unsupported bit depth 12 for PCM/,
    },
    'bits_64_pcm.wav': {
      bytes: wavHeaderBytes({ bitsPerSample: 64 }),
      error: /unsupported bit depth 64 for PCM/,
    },
    'float_16.wav': {
      bytes: wavHeaderBytes({ tag: 3, bitsPerSample: 16 }),
      error: /unsupported bit depth 16 for IEEE float \(32 or 64\)/,
    },
    'data_past_end.wav': {
      bytes: wavHeaderBytes({ dataSize: 1_000_000 }),
      error: /the file is truncated: its "data" chunk says 1000000 bytes, but only 3200 follow it/,
    },
    'no_fmt.wav': { bytes: wavHeaderBytes({ noFmt: true }), error: /"data" chunk before "fmt " chunk/ },
    'fmt_0.wav': {
      bytes: wavHeaderBytes({ fmtSize: 0 }),
      error: /its "fmt " chunk is 0 bytes, fewer than the 16/,
    },
    'extensible_unknown.wav': {
      bytes: wavHeaderBytes({ subFormat: Array(16).fill(0x42) }),
      error: /unsupported WAV encoding \(extensible sub-format GUID 4242/,
    },
    'extensible_short.wav': {
      bytes: wavHeaderBytes({ subFormat: [1, 0, ...guidTail], fmtSize: 18 }),
      error: /its extensible "fmt " chunk is 18 bytes, fewer than the 40/,
    },
    'empty.wav': { bytes: new Uint8Array(0), error: /empty\.wav: the file is empty/ },
    'cut_header.wav': {
      bytes: wavHeaderBytes().subarray(0, 20),
      error: /the file ends inside its "fmt " chunk/,
    },
    'folder.wav': { bytes: 'folder', error: /folder\.wav: it is a folder, not an audio file/ },
    'text.mp3': { bytes: Buffer.from('not audio\n'.repeat(500)), error: /no MPEG audio frames found/ },
    'zeros.mp3': { bytes: new Uint8Array(100_000), error: /no MPEG audio frames found/ },
    'empty_flac.flac': { bytes: new Uint8Array(0), error: /empty_flac\.flac: the file is empty/ },
    'streaminfo_rate_0.flac': {
      bytes: encodeFlac(tone(440, 16000, 0.2, 1), 0),
      error: /no FLAC audio frames found/,
    },
  };
  // Odd but legal: these decode.
  const GOOD: Record<string, Uint8Array> = {
    'good.wav': pcm16Wav(tone(440, 16000, 0.5, 1), 16000),
    'odd_chunk.wav': wavHeaderBytes({ extraChunks: oddList }),
    'streamed_size.wav': wavHeaderBytes({ dataSize: 0xffffffff }),
    // Two frames of 65535 channels: read a few frames at a time, not 65536 frames (8.6 GB) at once.
    'channels_65535.wav': wavHeaderBytes({ channels: 65535, dataBytes: 2 * 2 * 65535 }),
  };
  let ws: Workspace;
  before(() => {
    ws = makeWorkspace({
      // The manifest lists a folder too: a listing is how a folder named x.wav reaches the decoder.
      'pipeline.yaml': PIPELINE.replace('cp data/* audio/', 'cp -R data/. .').replace(
        'outs: [audio]',
        'outs: [audio, manifest.json]',
      ),
    });
    mkdirSync(ws.path('data/audio'), { recursive: true });
    const all = { ...BAD, ...Object.fromEntries(Object.entries(GOOD).map(([k, v]) => [k, { bytes: v }])) };
    for (const [name, { bytes }] of Object.entries(all)) {
      if (bytes === 'folder') {
        mkdirSync(ws.path(`data/audio/${name}`));
        writeFileSync(
          ws.path(`data/audio/${name}/inside.txt`),
          'a folder with a file, so the output keeps it',
        );
      } else writeFileSync(ws.path(`data/audio/${name}`), bytes);
    }
    const files = Object.keys(all).map((name) => ({ file: `audio/${name}` }));
    writeFileSync(ws.path('data/manifest.json'), JSON.stringify({ files }));
  });
  after(() => ws.remove());

  test('skip mode lists each bad file with what is wrong and converts the rest', async () => {
    const r = await runJson(ws.dir, ['--set', 'data.on_bad_file=skip']);
    assert.equal(r.code, 0, r.stderr);
    const manifest = JSON.parse(ws.read('runs/pipeline/resample/manifest.json')) as Manifest;
    assert.deepEqual(
      manifest.files.map((f) => f.source).sort(),
      Object.keys(GOOD)
        .map((n) => `audio/${n}`)
        .sort(),
    );
    assert.equal(manifest.files.find((f) => f.source.endsWith('65535.wav'))?.source_channels, 65535);
    const errors = Object.fromEntries(manifest.skipped.map((s) => [s.source.replace('audio/', ''), s.error]));
    assert.deepEqual(Object.keys(errors).sort(), Object.keys(BAD).sort());
    for (const [name, { error }] of Object.entries(BAD)) {
      assert.match(errors[name]!, new RegExp(`^cannot decode \\S*${name.replace('.', '\\.')}`), name);
      assert.match(errors[name]!, error, name);
    }
  });

  test('fail mode names the first bad file as an input error, not a bug', async () => {
    const r = await cli(ws.dir, ['run']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error E_STAGE_FAILED \(stage "resample"\)/);
    assert.match(r.stderr, /cannot decode \S*bits_0\.wav: unsupported bit depth 0/);
    assert.doesNotMatch(r.stderr, /looks like a bug|internal error/);
  });
});
