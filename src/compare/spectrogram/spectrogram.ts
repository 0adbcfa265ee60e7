// A WAV's log-magnitude spectrogram as a PNG, for the report: a Hann-windowed STFT on a mel scale
// from 0 Hz (bottom) to Nyquist (top), so the low frequencies where speech (and a codec's detail)
// lives get most of the rows, and ONE colour scale for every picture (dB against full scale,
// clamped to a fixed range, through one colour map), so pictures of different experiments read
// against each other: the same colour is the same level everywhere.
import { type FftPlan, fft, planFft } from './fft.ts';
import { encodePng } from './png.ts';
import type { PcmAudio } from './wav-pcm.ts';

/** Points per frame: 21 ms at 24 kHz, fine enough in time for speech, 47 Hz per bin. */
export const FFT_SIZE = 512;
/** Hop between frames of short audio; longer audio spreads MAX_COLUMNS frames over its length. */
const HOP = FFT_SIZE / 4;
/** At most this many frames (image columns), whatever the length: the cost is bounded. */
export const MAX_COLUMNS = 600;
/** Rows of the image, equal steps of mel from 0 Hz to Nyquist. */
export const ROWS = 128;
/**
 * The colour scale: dBFS (0: a full-scale sine) from DB_FLOOR (darkest) to DB_CEIL (brightest).
 * The floor sits under a codec's noise (about -80 dBFS per bin for the demo's) and a quiet room.
 */
export const DB_FLOOR = -90;
export const DB_CEIL = 0;

/** Inferno-like stops (position, colour): dark to bright, so brightness alone reads as level. */
export const COLOR_STOPS: readonly [number, string][] = [
  [0, '#000004'],
  [0.25, '#57106e'],
  [0.5, '#bc3754'],
  [0.75, '#f98e09'],
  [1, '#fcffa4'],
];

export interface Spectrogram {
  png: Buffer;
  width: number;
  height: number;
  /** The top row's frequency, in Hz. */
  nyquist: number;
  seconds: number;
}

/** The spectrogram of `audio`; an empty file still gets one (silent) column. */
export function renderSpectrogram(audio: PcmAudio): Spectrogram {
  const { samples, sampleRate } = audio;
  const natural = Math.max(1, Math.ceil(samples.length / HOP));
  const width = Math.min(natural, MAX_COLUMNS);
  const plan = planFft(FFT_SIZE);
  const window = hann(FFT_SIZE);
  // A full-scale sine's peak bin is (Σ window) / 2: dividing by it makes that sine 0 dB.
  const fullScale = window.reduce((sum, w) => sum + w, 0) / 2;
  const rows = melRows(sampleRate);
  const pixels = new Uint8Array(width * ROWS); // indices into LUT
  const re = new Float64Array(FFT_SIZE);
  const im = new Float64Array(FFT_SIZE);
  const magnitudes = new Float64Array(FFT_SIZE / 2 + 1);
  for (let x = 0; x < width; x++) {
    // Frame centres spread evenly over the audio (every HOP samples when it is short enough).
    const centre = width === natural ? x * HOP : Math.round(((x + 0.5) * samples.length) / width);
    frameSpectrum(plan, samples, centre, window, re, im);
    for (let k = 0; k < magnitudes.length; k++) magnitudes[k] = Math.sqrt(re[k]! ** 2 + im[k]! ** 2);
    for (let row = 0; row < ROWS; row++) {
      const magnitude = rows[row]!(magnitudes);
      const db = 20 * Math.log10(magnitude / fullScale + 1e-12);
      // Low frequencies at the bottom.
      pixels[(ROWS - 1 - row) * width + x] = levelOf((db - DB_FLOOR) / (DB_CEIL - DB_FLOOR));
    }
  }
  return {
    png: encodePng(width, ROWS, pixels, LUT),
    width,
    height: ROWS,
    nyquist: sampleRate / 2,
    seconds: samples.length / sampleRate,
  };
}

/** The windowed frame centred on `centre` (zeros past either end), transformed into re/im. */
function frameSpectrum(
  plan: FftPlan,
  samples: Float32Array,
  centre: number,
  window: Float64Array,
  re: Float64Array,
  im: Float64Array,
): void {
  const start = centre - FFT_SIZE / 2;
  for (let i = 0; i < FFT_SIZE; i++) {
    const t = start + i;
    re[i] = t >= 0 && t < samples.length ? samples[t]! * window[i]! : 0;
    im[i] = 0;
  }
  fft(plan, re, im);
}

const mel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
const hzOfMel = (m: number) => 700 * (10 ** (m / 2595) - 1);

/**
 * For each row (0: the lowest), how its magnitude comes from the bins: the loudest bin whose
 * centre lies in the row's band, or, for a band narrower than a bin (low rows), the magnitude
 * interpolated at the band's middle.
 */
function melRows(sampleRate: number): ((magnitudes: Float64Array) => number)[] {
  const binHz = sampleRate / FFT_SIZE;
  const top = mel(sampleRate / 2);
  const last = FFT_SIZE / 2;
  return Array.from({ length: ROWS }, (_, row) => {
    const lo = hzOfMel((row / ROWS) * top) / binHz;
    const hi = hzOfMel(((row + 1) / ROWS) * top) / binHz;
    const first = Math.ceil(lo);
    const end = Math.min(last, Math.floor(hi));
    if (first <= end)
      return (m: Float64Array) => {
        let max = 0;
        for (let k = first; k <= end; k++) max = Math.max(max, m[k]!);
        return max;
      };
    const at = Math.min(last, (lo + hi) / 2);
    const k = Math.min(last - 1, Math.floor(at));
    return (m: Float64Array) => m[k]! + (m[k + 1]! - m[k]!) * (at - k);
  });
}

function hann(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
}

const LUT = buildLut();

/** The palette index of level `t` (0: DB_FLOOR, 1: DB_CEIL; clamped). */
function levelOf(t: number): number {
  return Math.round(Math.min(1, Math.max(0, Number.isNaN(t) ? 0 : t)) * 255);
}

/** 256 colours interpolated linearly between COLOR_STOPS. */
function buildLut(): Uint8Array {
  const rgb = (hex: string) => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let k = 0;
    while (k < COLOR_STOPS.length - 2 && t > COLOR_STOPS[k + 1]![0]) k++;
    const [t0, c0] = COLOR_STOPS[k]!;
    const [t1, c1] = COLOR_STOPS[k + 1]!;
    const f = (t - t0) / (t1 - t0);
    const a = rgb(c0);
    const b = rgb(c1);
    for (let j = 0; j < 3; j++) lut[i * 3 + j] = Math.round(a[j]! + (b[j]! - a[j]!) * f);
  }
  return lut;
}
