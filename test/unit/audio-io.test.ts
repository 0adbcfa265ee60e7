// Our streaming WAV reader and writer against wavefile, and the MP3 frame scanner that catches
// truncated files (which the WebAssembly decoder would end silently).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import wavefile from 'wavefile';
import { FrameScanner, id3v2Size } from '../../stages/audio/mp3-frames.ts';
import { readWav } from '../../stages/audio/wav-reader.ts';
import { WavWriter } from '../../stages/audio/wav-writer.ts';
import { encodeMp3, id3v2Tag, readWavWithWavefile, tone } from '../helpers/audio.ts';

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
