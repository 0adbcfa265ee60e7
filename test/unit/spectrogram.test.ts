// The report's spectrogram parts on known signals: the FFT against a direct DFT and a sine's bin,
// the PNG encoder read back through zlib, the WAV reader against wavefile's files, and the picture
// of a tone (one bright band) against white noise (bright everywhere).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';
import wavefile from 'wavefile';
import { fft, planFft } from '../../src/compare/spectrogram/fft.ts';
import { crc32, encodePng } from '../../src/compare/spectrogram/png.ts';
import { MAX_COLUMNS, ROWS, renderSpectrogram } from '../../src/compare/spectrogram/spectrogram.ts';
import { readWavPcm } from '../../src/compare/spectrogram/wav-pcm.ts';
import { tone, wavFile, whiteNoise } from '../helpers/audio.ts';

test('a sine of 10 cycles in 64 points peaks in bin 10 with magnitude n/2', () => {
  const n = 64;
  const plan = planFft(n);
  const re = Float64Array.from({ length: n }, (_, t) => Math.sin((2 * Math.PI * 10 * t) / n));
  const im = new Float64Array(n);
  fft(plan, re, im);
  const magnitudes = Array.from({ length: n / 2 }, (_, k) => Math.hypot(re[k]!, im[k]!));
  const peak = magnitudes.indexOf(Math.max(...magnitudes));
  assert.equal(peak, 10);
  assert.ok(Math.abs(magnitudes[10]! - n / 2) < 1e-9, `${magnitudes[10]}`);
  assert.ok(magnitudes.every((m, k) => k === 10 || m < 1e-9));
});

test('the FFT equals a direct DFT on arbitrary input', () => {
  const n = 32;
  const x = Array.from({ length: n }, (_, t) => Math.sin(t * 1.7) + 0.3 * Math.cos(t * t * 0.11));
  const re = Float64Array.from(x);
  const im = new Float64Array(n);
  fft(planFft(n), re, im);
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let t = 0; t < n; t++) {
      sr += x[t]! * Math.cos((-2 * Math.PI * k * t) / n);
      si += x[t]! * Math.sin((-2 * Math.PI * k * t) / n);
    }
    assert.ok(Math.abs(re[k]! - sr) < 1e-9 && Math.abs(im[k]! - si) < 1e-9, `bin ${k}`);
  }
  assert.throws(() => planFft(48), /48 is not a power of two/);
});

/** The chunks of a PNG, each checked against its CRC. */
function readChunks(png: Buffer): Map<string, Buffer> {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunks = new Map<string, Buffer>();
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    assert.equal(png.readUInt32BE(at + 8 + length), crc32(png.subarray(at + 4, at + 8 + length)), type);
    chunks.set(type, data);
    at += 12 + length;
  }
  return chunks;
}

/** Width, height and RGB pixels (row by row) of one of our indexed PNGs, through zlib. */
function decodePng(png: Buffer): { width: number; height: number; rgb: Uint8Array } {
  const chunks = readChunks(png);
  const ihdr = chunks.get('IHDR')!;
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  assert.deepEqual([...ihdr.subarray(8)], [8, 3, 0, 0, 0], '8-bit indexed, no interlace');
  const palette = chunks.get('PLTE')!;
  const raw = inflateSync(chunks.get('IDAT')!);
  assert.equal(raw.length, height * (1 + width));
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (1 + width)], 0, `row ${y}: filter 0`);
    for (let x = 0; x < width; x++) {
      const index = raw[y * (1 + width) + 1 + x]!;
      rgb.set(palette.subarray(index * 3, index * 3 + 3), (y * width + x) * 3);
    }
  }
  return { width, height, rgb };
}

test('a PNG reads back: signature, chunks and checksums, palette and pixels under filter 0', () => {
  assert.equal(crc32(Buffer.from('IEND')), 0xae426082, 'the CRC every PNG ends with');
  const palette = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255]);
  const png = encodePng(3, 2, Uint8Array.from([0, 1, 2, 2, 1, 0]), palette);
  assert.deepEqual([...readChunks(png).keys()], ['IHDR', 'PLTE', 'IDAT', 'IEND']);
  const { width, height, rgb } = decodePng(png);
  assert.deepEqual([width, height], [3, 2]);
  assert.deepEqual([...rgb], [255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 255, 0, 255, 0, 255, 0, 0]);
  assert.throws(() => encodePng(3, 3, new Uint8Array(6), palette), /6 pixels are not 3 × 3/);
  assert.throws(() => encodePng(1, 1, Uint8Array.from([3]), palette), /past the palette's 3 colours/);
});

test('the WAV reader gives back what wavefile wrote, 16-bit, 24-bit and float', () => {
  const samples = tone(440, 8000, 0.05)[0]!;
  for (const [depth, tolerance] of [
    ['16', 1 / 32767],
    ['24', 1 / 8388607],
    ['32f', 1e-7],
  ] as const) {
    const audio = readWavPcm(wavFile(samples, 8000, depth));
    assert.equal(audio.sampleRate, 8000, depth);
    assert.equal(audio.samples.length, samples.length, depth);
    let worst = 0;
    for (let i = 0; i < samples.length; i++)
      worst = Math.max(worst, Math.abs(audio.samples[i]! - samples[i]!));
    assert.ok(worst <= tolerance, `${depth}: off by ${worst}`);
  }
  // 8-bit (unsigned, centred on 128) and a stereo file, mixed down to the channels' mean.
  const u8 = readWavPcm(wavFile(samples, 8000, '8'));
  assert.ok(
    u8.samples.every((v, i) => Math.abs(v - samples[i]!) <= 1.5 / 128),
    '8-bit',
  );
  const stereo = new wavefile.WaveFile();
  stereo.fromScratch(2, 8000, '16', [
    [1000, 2000, -3000],
    [3000, 0, -1000],
  ]);
  assert.deepEqual([...readWavPcm(stereo.toBuffer()).samples], [2000 / 32768, 1000 / 32768, -2000 / 32768]);
  assert.throws(() => readWavPcm(Buffer.from('ID3 not a wav file')), /^Error: it is not a RIFF\/WAVE file$/);
  assert.throws(() => readWavPcm(Buffer.from('RIFF\x04\x00\x00\x00WAVE')), /it has no fmt chunk/);
});

/** Mean brightness (R+G+B) of each row of a spectrogram, decoded from its PNG. */
function rowBrightness(png: Buffer): number[] {
  const { width, height, rgb } = decodePng(png);
  return Array.from({ length: height }, (_, y) => {
    let sum = 0;
    for (let i = 0; i < width * 3; i++) sum += rgb[y * width * 3 + i]!;
    return sum / width;
  });
}

test('a tone is one bright band at its frequency; white noise is bright at every frequency', () => {
  const rate = 24000;
  const sine = renderSpectrogram({ sampleRate: rate, samples: tone(3000, rate, 1)[0]! });
  assert.equal(sine.height, ROWS);
  assert.equal(sine.nyquist, 12000);
  const rows = rowBrightness(sine.png);
  const brightest = rows.indexOf(Math.max(...rows));
  // Row 0 is the top (Nyquist); rows are equal steps of mel (HTK: 2595 log10(1 + f / 700)).
  const mel = (f: number) => 2595 * Math.log10(1 + f / 700);
  const expected = ROWS - 1 - Math.floor((mel(3000) / mel(12000)) * ROWS);
  assert.ok(Math.abs(brightest - expected) <= 1, `brightest row ${brightest}, expected ${expected}`);
  const sorted = [...rows].sort((a, b) => a - b);
  assert.ok(sorted[ROWS / 2]! < rows[brightest]! / 3, 'most rows are far darker than the band');

  const noise = renderSpectrogram({ sampleRate: rate, samples: whiteNoise(rate, 1) });
  const noiseRows = rowBrightness(noise.png);
  const lo = Math.min(...noiseRows);
  assert.ok(lo > Math.max(...noiseRows) * 0.7, 'noise is about as bright in every row');
  assert.ok(lo > sorted[ROWS / 2]! * 2, 'and brighter than the tone away from its band');
});

test('long audio is capped at MAX_COLUMNS frames; silence and empty files still draw', () => {
  const long = renderSpectrogram({ sampleRate: 8000, samples: new Float32Array(8000 * 60) });
  assert.equal(long.width, MAX_COLUMNS);
  assert.equal(long.seconds, 60);
  const empty = renderSpectrogram({ sampleRate: 8000, samples: new Float32Array(0) });
  assert.equal(empty.width, 1);
  assert.deepEqual(
    new Set(rowBrightness(empty.png)),
    new Set([4]),
    'silence is the darkest colour (#000004)',
  );
});
