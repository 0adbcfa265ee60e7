// The fast resampler against the reference library (libsamplerate's SINC_BEST), against its own
// plain-JS loop, and on the properties that matter downstream: pitch, length, aliasing, chunking.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import lsr from '@alexanderolsen/libsamplerate-js';
import { PolyphaseResampler, type Quality } from '../../stages/audio/polyphase.ts';
import { Pcm16Converter, toPcm16Sample } from '../../stages/audio/simd-kernel.ts';
import { concatSamples, rmsDb, tone, toneFrequency } from '../helpers/audio.ts';

const { create, ConverterType } = lsr as unknown as typeof import('@alexanderolsen/libsamplerate-js');

function resampleAll(
  x: Float32Array,
  from: number,
  to: number,
  quality: Quality,
  chunks: number[] = [x.length],
  simd = true,
) {
  const r = new PolyphaseResampler(from, to, quality, { simd });
  const parts: Float32Array[] = [];
  let o = 0;
  for (let i = 0; o < x.length; i++) {
    const size = chunks[i % chunks.length]!;
    parts.push(r.process(x.subarray(o, o + size)));
    o += size;
  }
  parts.push(r.flush());
  return concatSamples(parts);
}

function snrDb(ours: Float32Array, ref: Float32Array, from: number, to: number): number {
  let signal = 0;
  let error = 0;
  for (let i = from; i < to; i++) {
    signal += ref[i]! ** 2;
    error += (ours[i]! - ref[i]!) ** 2;
  }
  return 10 * Math.log10(signal / error);
}

const mix = (rate: number, seconds: number) => {
  const [a] = tone(440, rate, seconds, 1, 0.3);
  const [b] = tone(3000, rate, seconds, 1, 0.2);
  const [c] = tone(9000, rate, seconds, 1, 0.1);
  return a!.map((v, i) => v + b![i]! + c![i]!);
};

test('44.1 kHz → 24 kHz matches libsamplerate SINC_BEST: best > 100 dB SNR, high > 85 dB', async () => {
  const x = mix(44100, 2);
  const ref = (await create(1, 44100, 24000, { converterType: ConverterType.SRC_SINC_BEST_QUALITY })).simple(
    x,
  );
  const best = resampleAll(x, 44100, 24000, 'best');
  const high = resampleAll(x, 44100, 24000, 'high');
  assert.equal(best.length, ref.length);
  assert.ok(snrDb(best, ref, 2000, 46000) > 100, `best: ${snrDb(best, ref, 2000, 46000).toFixed(1)} dB`);
  assert.ok(snrDb(high, ref, 2000, 46000) > 85, `high: ${snrDb(high, ref, 2000, 46000).toFixed(1)} dB`);
});

test('the SIMD kernel is available here and computes what the plain-JS loops compute', () => {
  assert.ok(new PolyphaseResampler(48000, 24000).kernel, 'WebAssembly SIMD kernel did not load');
  const x = mix(48000, 1);
  for (const quality of ['best', 'high', 'fast'] as const) {
    const simd = resampleAll(x, 48000, 24000, quality, [4096], true);
    const js = resampleAll(x, 48000, 24000, quality, [4096], false);
    let worst = 0;
    for (let i = 0; i < js.length; i++) worst = Math.max(worst, Math.abs(simd[i]! - js[i]!));
    assert.ok(worst < 1e-6, `${quality}: max difference ${worst}`);
  }
  // Stereo input is mixed by the kernel on the way in (odd chunk lengths exercise its JS tail).
  const [l, r] = tone(1000, 44100, 0.5, 2);
  const run = (simd: boolean) => {
    const resampler = new PolyphaseResampler(44100, 24000, 'high', { simd });
    const parts: number[] = [];
    for (let o = 0; o < l!.length; o += 1001) {
      parts.push(...resampler.processChannels([l!.subarray(o, o + 1001), r!.subarray(o, o + 1001)]));
    }
    return [...parts, ...resampler.flush()];
  };
  const simd = run(true);
  const js = run(false);
  assert.equal(simd.length, js.length);
  assert.ok(simd.every((v, i) => Math.abs(v - js[i]!) < 1e-6));
});

test('PCM16 conversion: the SIMD kernel and the JS fallback agree to the bit, ties to even, clipping', () => {
  const converter = Pcm16Converter.create();
  assert.ok(converter, 'WebAssembly SIMD kernel did not load');
  const x = Float32Array.from({ length: 20_003 }, (_, i) => Math.sin(i * 0.37) * 1.3);
  for (let i = 0; i < 2000; i++) x[i] = (i - 1000 + 0.5) / 32767; // exact halves
  assert.deepEqual(converter.toPcm16(x), Int16Array.from(x, toPcm16Sample));
  assert.deepEqual(
    Array.from(converter.toPcm16(Float32Array.from([1.5, -1.5, 0.5, 2.5 / 32767, 3.5 / 32767]))),
    [32767, -32768, 16384, 2, 4],
  );
});

test('any chunking gives the same samples, and lengths are ceil(n · out / in)', () => {
  const x = mix(44100, 1.3);
  const whole = resampleAll(x, 44100, 24000, 'high');
  const ragged = resampleAll(x, 44100, 24000, 'high', [1, 7, 1000, 333, 65536, 2]);
  assert.deepEqual(ragged, whole);
  for (const [from, to] of [
    [44100, 24000],
    [48000, 24000],
    [22050, 24000],
    [16000, 24000],
    [24000, 24000],
  ] as const) {
    const n = 12345;
    assert.equal(
      resampleAll(new Float32Array(n), from, to, 'fast').length,
      Math.ceil((n * to) / from),
      `${from} → ${to}`,
    );
  }
});

test('a tone keeps its pitch, and a tone above the new Nyquist is removed', () => {
  for (const rate of [22050, 44100, 48000]) {
    const [x] = tone(440, rate, 2);
    const y = resampleAll(x!, rate, 24000, 'best');
    assert.ok(Math.abs(toneFrequency(y, 24000) - 440) < 0.05, `${rate}: ${toneFrequency(y, 24000)} Hz`);
    assert.ok(Math.abs(rmsDb(y) - rmsDb(x!)) < 0.05, `${rate}: level changed`);
  }
  const [high] = tone(15000, 44100, 1);
  const gone = resampleAll(high!, 44100, 24000, 'best');
  assert.ok(
    rmsDb(gone) - rmsDb(high!) < -90,
    `15 kHz leaked at ${(rmsDb(gone) - rmsDb(high!)).toFixed(1)} dB`,
  );
});
