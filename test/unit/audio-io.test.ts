// Our streaming WAV reader and writer against wavefile, the MP3 frame scanner that catches
// truncated files (which the WebAssembly decoder would end silently), and our WebAssembly build of
// libmpg123 against mpg123-decoder's (the same library, built and driven by others).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MPEGDecoder } from 'mpg123-decoder';
import wavefile from 'wavefile';
import { Mp3DataError, Mp3Decoder } from '../../stages/audio/mp3-decoder.ts';
import { FrameScanner, id3v2Size } from '../../stages/audio/mp3-frames.ts';
import { readWav } from '../../stages/audio/wav-reader.ts';
import { WavWriter } from '../../stages/audio/wav-writer.ts';
import { concat, concatSamples, encodeMp3, id3v2Tag, readWavWithWavefile, tone } from '../helpers/audio.ts';

const dir = mkdtempSync(join(tmpdir(), 'gpt2o-audio-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the streaming WAV reader decodes what wavefile decodes (16/24-bit PCM, float32, stereo)', () => {
  const [l, r] = tone(1000, 22050, 0.5, 2);
  for (const bitDepth of ['16', '24', '32f']) {
    const wav = new wavefile.WaveFile();
    const scale = bitDepth === '32f' ? 1 : bitDepth === '16' ? 32767 : 8388607;
    const toInt = (c: Float32Array) => Array.from(c, (s) => (bitDepth === '32f' ? s : Math.round(s * scale)));
    wav.fromScratch(2, 22050, bitDepth, [toInt(l!), toInt(r!)]);
    const path = join(dir, `in-${bitDepth}.wav`);
    writeFileSync(path, wav.toBuffer());
    const chunks = [...readWav(path, 1000)];
    assert.ok(chunks.length > 5, 'it streams in chunks');
    const left = Float32Array.from(chunks.flatMap((c) => Array.from(c.channels[0]!)));
    const right = Float32Array.from(chunks.flatMap((c) => Array.from(c.channels[1]!)));
    assert.equal(left.length, l!.length);
    for (let i = 0; i < left.length; i += 97) {
      assert.ok(
        Math.abs(left[i]! - l![i]!) < 1e-4 && Math.abs(right[i]! - r![i]!) < 1e-4,
        `${bitDepth} sample ${i}`,
      );
    }
    assert.equal(chunks[0]!.sampleRate, 22050);
  }
});

test('the WAV writer produces files wavefile reads back, in PCM16 and float32', () => {
  const [x] = tone(440, 24000, 0.25);
  for (const format of ['pcm16', 'float32'] as const) {
    const path = join(dir, `out-${format}.wav`);
    const writer = new WavWriter(path, 24000, format);
    writer.write(x!.subarray(0, 1000));
    writer.write(x!.subarray(1000));
    writer.close();
    const back = readWavWithWavefile(readFileSync(path));
    assert.equal(back.sampleRate, 24000);
    assert.equal(back.bitDepth, format === 'pcm16' ? '16' : '32f');
    assert.equal(back.samples.length, x!.length);
    const tolerance = format === 'pcm16' ? 1 / 32767 : 1e-7;
    for (let i = 0; i < x!.length; i += 13) assert.ok(Math.abs(back.samples[i]! - x![i]!) <= tolerance);
  }
});

test('the frame scanner skips ID3v2 tags and finds a frame cut short, with its byte offset', () => {
  const mp3 = encodeMp3(tone(440, 44100, 1, 2), 44100, 128);
  const tag = id3v2Tag(50_000);
  const file = new Uint8Array([...tag, ...mp3]);
  assert.equal(id3v2Size(file), tag.length);

  const whole = new FrameScanner();
  for (let o = 0; o < file.length; o += 4096) whole.push(file.subarray(o, o + 4096));
  whole.finish();
  assert.equal(whole.truncatedAt, undefined);
  assert.ok(whole.frames >= 38, `${whole.frames} frames`);

  const cut = file.subarray(0, file.length - 150);
  const truncated = new FrameScanner();
  for (let o = 0; o < cut.length; o += 4096) truncated.push(cut.subarray(o, o + 4096));
  truncated.finish();
  assert.ok(
    truncated.truncatedAt !== undefined &&
      truncated.truncatedAt > tag.length &&
      truncated.truncatedAt < cut.length,
  );
  assert.equal(truncated.frames, whole.frames - 1);
});

/** Our decoder's mono samples over `bytes` fed in pieces of `piece` bytes. */
function decodeOurs(bytes: Uint8Array, piece: number): { mono: Float32Array; sampleRate: number } {
  const decoder = Mp3Decoder.open();
  const parts: Float32Array[] = [];
  for (let o = 0; o < bytes.length; o += piece)
    parts.push(decoder.decode(bytes.subarray(o, o + piece)).slice());
  decoder.free();
  return { mono: concatSamples(parts), sampleRate: decoder.sampleRate };
}

/** mpg123-decoder's decode() of the whole stream, mixed to (L + R) / 2. */
async function decodeReference(bytes: Uint8Array): Promise<{ mono: Float32Array; sampleRate: number }> {
  const decoder = new MPEGDecoder();
  await decoder.ready;
  const out = decoder.decode(bytes);
  decoder.free();
  const [left, right] = out.channelData as [Float32Array, Float32Array];
  const mono = Float32Array.from({ length: out.samplesDecoded }, (_, i) => (left[i]! + right[i]!) * 0.5);
  return { mono, sampleRate: out.sampleRate };
}

test('our libmpg123 build decodes what mpg123-decoder decodes, mixed to mono', async () => {
  // Two tones, one per channel: the mix holds both at half amplitude.
  const stereo = encodeMp3([tone(440, 44100, 3)[0]!, tone(1000, 44100, 3)[0]!], 44100, 128);
  // Bitrate changes mid-stream, a mono stream at 48 kHz, and an ID3v2 tag with a picture in front.
  const mixed = concat([
    id3v2Tag(40_000),
    encodeMp3(tone(300, 48000, 2), 48000, 64),
    encodeMp3(tone(300, 48000, 2), 48000, 192),
  ]);
  for (const [name, bytes] of [
    ['stereo 44.1 kHz', stereo],
    ['mono 48 kHz, tagged, two bitrates', mixed],
  ] as const) {
    const reference = await decodeReference(bytes);
    // Whole 64 KiB reads (the stage's), and odd pieces that cut frames anywhere.
    for (const piece of [65536, 1000, 417]) {
      const ours = decodeOurs(bytes, piece);
      assert.equal(ours.sampleRate, reference.sampleRate, name);
      assert.equal(ours.mono.length, reference.mono.length, `${name}, pieces of ${piece}: length`);
      let worst = 0;
      for (let i = 0; i < ours.mono.length; i++)
        worst = Math.max(worst, Math.abs(ours.mono[i]! - reference.mono[i]!));
      // Mixing before synthesis instead of after changes only float rounding.
      assert.ok(worst < 1e-5, `${name}, pieces of ${piece}: differs by up to ${worst}`);
    }
  }
  const { mono } = decodeOurs(stereo, 65536);
  assert.ok(mono.length > 3 * 44100 - 2000, `decoded ${mono.length} samples`);
  const spectrum = (f: number) => {
    let re = 0;
    let im = 0;
    for (let i = 0; i < 44100; i++) {
      re += mono[10000 + i]! * Math.cos((2 * Math.PI * f * i) / 44100);
      im += mono[10000 + i]! * Math.sin((2 * Math.PI * f * i) / 44100);
    }
    return (2 * Math.hypot(re, im)) / 44100;
  };
  // Each tone at half its 0.5 amplitude; nothing between them.
  assert.ok(Math.abs(spectrum(440) - 0.25) < 0.02, `440 Hz at ${spectrum(440)}`);
  assert.ok(Math.abs(spectrum(1000) - 0.25) < 0.02, `1000 Hz at ${spectrum(1000)}`);
  assert.ok(spectrum(700) < 0.01, `700 Hz at ${spectrum(700)}`);
});

test('our libmpg123 build reports corrupt data with the bytes fed and samples decoded', () => {
  const good = encodeMp3(tone(440, 44100, 2), 44100, 128);
  // A run of 0xFF in the middle looks like frame syncs with invalid headers.
  const bad = good.slice();
  bad.fill(0xff, 20_000, 24_000);
  const decoder = Mp3Decoder.open();
  try {
    assert.throws(
      () => {
        for (let o = 0; o < bad.length; o += 4096) decoder.decode(bad.subarray(o, o + 4096));
      },
      (error: unknown) => {
        assert.ok(error instanceof Mp3DataError, String(error));
        assert.match(error.message, /resync/);
        assert.ok(error.inputBytes > 20_000 && error.inputBytes <= 28_672, `fed ${error.inputBytes}`);
        assert.ok(error.outputSamples > 1152 * 10, `decoded ${error.outputSamples}`);
        return true;
      },
    );
  } finally {
    decoder.free();
  }
});
