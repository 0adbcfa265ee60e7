// Our streaming WAV reader and writer against wavefile, the MP3 frame scanner that catches
// truncated files (which the WebAssembly decoder would end silently), and our direct driver of
// mpg123-decoder's wasm against the library's own decode().
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
import { concat, encodeMp3, id3v2Tag, readWavWithWavefile, tone, toneFrequency } from '../helpers/audio.ts';

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

/** Everything a decoder yields over `bytes` fed in pieces of `piece` bytes, as two planes. */
async function decodeAll(
  bytes: Uint8Array,
  piece: number,
  direct: boolean,
): Promise<{ left: Float32Array; right: Float32Array; sampleRate: number }> {
  const lefts: Float32Array[] = [];
  const rights: Float32Array[] = [];
  let sampleRate = 0;
  if (direct) {
    const decoder = await Mp3Decoder.open();
    for (let o = 0; o < bytes.length; o += piece) {
      const out = decoder.decode(bytes.subarray(o, o + piece));
      lefts.push(out.left.slice());
      rights.push(out.right.slice());
    }
    sampleRate = decoder.sampleRate;
    decoder.free();
  } else {
    const decoder = new MPEGDecoder();
    await decoder.ready;
    for (let o = 0; o < bytes.length; o += piece) {
      const out = decoder.decode(bytes.subarray(o, o + piece));
      if (out.samplesDecoded === 0) continue;
      lefts.push(out.channelData[0]!);
      rights.push(out.channelData[1]!);
      sampleRate = out.sampleRate;
    }
    decoder.free();
  }
  const join = (parts: Float32Array[]) => {
    const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return all;
  };
  return { left: join(lefts), right: join(rights), sampleRate };
}

test('the direct mpg123 driver yields exactly the samples of mpg123-decoder decode()', async () => {
  const stereo = encodeMp3([tone(440, 44100, 3, 1)[0]!, tone(1000, 44100, 3, 1)[0]!], 44100, 128);
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
    // The reused buffers grow (64 KiB pieces hold many frames) and frames straddle odd pieces.
    for (const piece of [65536, 1000, 417]) {
      const ours = await decodeAll(bytes, piece, true);
      const theirs = await decodeAll(bytes, piece, false);
      assert.ok(ours.left.length > 40_000, `${name}: decoded ${ours.left.length} samples`);
      assert.equal(ours.sampleRate, theirs.sampleRate, name);
      assert.deepEqual(ours.left, theirs.left, `${name}, pieces of ${piece}: left`);
      assert.deepEqual(ours.right, theirs.right, `${name}, pieces of ${piece}: right`);
    }
  }
  // The channels really are the two tones (so equal output is not two empty or swapped streams).
  const { left, right } = await decodeAll(stereo, 65536, true);
  assert.ok(Math.abs(toneFrequency(left, 44100) - 440) < 5);
  assert.ok(Math.abs(toneFrequency(right, 44100) - 1000) < 5);
});

test('the direct mpg123 driver reports corrupt data with the bytes fed and samples decoded', async () => {
  const good = encodeMp3(tone(440, 44100, 2), 44100, 128);
  // A run of 0xFF in the middle looks like frame syncs with invalid headers.
  const bad = good.slice();
  bad.fill(0xff, 20_000, 24_000);
  const decoder = await Mp3Decoder.open();
  try {
    assert.throws(
      () => {
        for (let o = 0; o < bad.length; o += 4096) decoder.decode(bad.subarray(o, o + 4096));
      },
      (error: unknown) => {
        assert.ok(error instanceof Mp3DataError, String(error));
        assert.ok(error.inputBytes > 20_000 && error.inputBytes <= 28_672, `fed ${error.inputBytes}`);
        assert.ok(error.outputSamples > 1152 * 10, `decoded ${error.outputSamples}`);
        return true;
      },
    );
  } finally {
    decoder.free();
  }
});
