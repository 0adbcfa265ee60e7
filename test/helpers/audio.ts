// Synthetic audio for tests: tones, MP3 encoding with lamejs, ID3v2 tags, and measurements on
// the result (frequency, level), so tests assert on signal content rather than on files existing.
import { Mp3Encoder } from '@breezystack/lamejs';
import wavefile from 'wavefile';

/** A sine tone, one Float32Array per channel (channel c is phase-shifted so channels differ). */
export function tone(
  frequency: number,
  sampleRate: number,
  seconds: number,
  channels = 1,
  amplitude = 0.5,
): Float32Array[] {
  const n = Math.round(sampleRate * seconds);
  return Array.from({ length: channels }, (_, c) =>
    Float32Array.from(
      { length: n },
      (_, i) => amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate + c * 0.5),
    ),
  );
}

/** CBR MP3 bytes (lamejs) of float channels; kbps per call, so concatenating calls gives VBR-like streams. */
export function encodeMp3(channels: Float32Array[], sampleRate: number, kbps = 128): Uint8Array {
  const encoder = new Mp3Encoder(channels.length, sampleRate, kbps);
  const pcm = channels.map((c) =>
    Int16Array.from(c, (s) => Math.max(-32768, Math.min(32767, Math.round(s * 32767)))),
  );
  const parts: Uint8Array[] = [];
  const block = 1152 * 20;
  for (let i = 0; i < pcm[0]!.length; i += block) {
    const l = pcm[0]!.subarray(i, i + block);
    const r = pcm[1]?.subarray(i, i + block);
    parts.push(new Uint8Array(r ? encoder.encodeBuffer(l, r) : encoder.encodeBuffer(l)));
  }
  parts.push(new Uint8Array(encoder.flush()));
  return concat(parts);
}

/** The samples of `parts` one after another. */
export function concatSamples(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An ID3v2.3 tag with a title and an APIC (picture) frame of `pictureBytes` bytes. */
export function id3v2Tag(pictureBytes: number): Uint8Array {
  const frame = (id: string, body: Uint8Array) => {
    const h = new Uint8Array(10);
    h.set(Buffer.from(id, 'ascii'));
    new DataView(h.buffer).setUint32(4, body.length);
    return concat([h, body]);
  };
  const title = frame('TIT2', concat([new Uint8Array([0]), Buffer.from('Chapter', 'latin1')]));
  const picture = frame(
    'APIC',
    concat([Buffer.from('\0image/jpeg\0\x03\0', 'latin1'), new Uint8Array(pictureBytes).fill(0xff)]),
  );
  const body = concat([title, picture]);
  const size = body.length;
  const header = new Uint8Array([
    0x49,
    0x44,
    0x33,
    3,
    0,
    0,
    (size >> 21) & 0x7f,
    (size >> 14) & 0x7f,
    (size >> 7) & 0x7f,
    size & 0x7f,
  ]);
  return concat([header, body]);
}

/** Frequency of a pure tone from its zero crossings (interpolated), between two fractions of the signal. */
export function toneFrequency(samples: Float32Array, sampleRate: number, from = 0.1, to = 0.9): number {
  const start = Math.floor(samples.length * from);
  const end = Math.floor(samples.length * to);
  let first = -1;
  let last = -1;
  let crossings = 0;
  for (let i = start + 1; i < end; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    if (a < 0 && b >= 0) {
      const t = i - 1 + a / (a - b);
      if (first < 0) first = t;
      else crossings++;
      last = t;
    }
  }
  return (crossings * sampleRate) / (last - first);
}

/** Root-mean-square level in dB relative to full scale, over the middle of the signal. */
export function rmsDb(samples: Float32Array): number {
  const start = Math.floor(samples.length * 0.1);
  const end = Math.floor(samples.length * 0.9);
  let sum = 0;
  for (let i = start; i < end; i++) sum += samples[i]! ** 2;
  return 10 * Math.log10(sum / (end - start) + 1e-30);
}

/** Reads a mono WAV with wavefile (an independent implementation from ours). */
export function readWavWithWavefile(bytes: Uint8Array): {
  sampleRate: number;
  samples: Float32Array;
  bitDepth: string;
} {
  const wav = new wavefile.WaveFile(bytes);
  // Read before toBitDepth(), which rebuilds the file (and resets these fields).
  const sampleRate = (wav.fmt as { sampleRate: number }).sampleRate;
  const bitDepth = wav.bitDepth;
  wav.toBitDepth('32f');
  const samples = wav.getSamples(false, Float64Array) as unknown as Float64Array;
  return { sampleRate, samples: Float32Array.from(samples), bitDepth };
}

/** The header fields of `wavHeaderBytes`; every one may be set to a value no valid WAV has. */
export interface WavHeader {
  /** 1 PCM, 3 float; ignored when `subFormat` is set (then the tag is 0xFFFE, extensible). */
  tag?: number;
  channels?: number;
  sampleRate?: number;
  bitsPerSample?: number;
  /** The size the "fmt " chunk claims (16, or 40 when extensible); its body is padded or cut to it. */
  fmtSize?: number;
  /** The 16-byte sub-format GUID of WAVE_FORMAT_EXTENSIBLE. */
  subFormat?: number[];
  /** Leave the "fmt " chunk out. */
  noFmt?: boolean;
  /** Chunks between "fmt " and "data" (e.g. a LIST chunk of odd size). */
  extraChunks?: Uint8Array;
  /** Bytes of sample data actually written (patterned, not silence). */
  dataBytes?: number;
  /** The size the "data" chunk claims (default: dataBytes). */
  dataSize?: number;
}

/** A RIFF/WAVE file built byte by byte from `h`, so tests can hand the reader any header at all. */
export function wavHeaderBytes(h: WavHeader = {}): Buffer {
  const channels = h.channels ?? 1;
  const rate = h.sampleRate ?? 16000;
  const bits = h.bitsPerSample ?? 16;
  const fmtSize = h.fmtSize ?? (h.subFormat ? 40 : 16);
  const body = Buffer.alloc(Math.max(40, fmtSize));
  body.writeUInt16LE(h.subFormat ? 0xfffe : (h.tag ?? 1), 0);
  body.writeUInt16LE(channels, 2);
  body.writeUInt32LE(rate, 4);
  body.writeUInt32LE((rate * channels * Math.ceil(bits / 8)) >>> 0, 8);
  body.writeUInt16LE((channels * Math.ceil(bits / 8)) & 0xffff, 12);
  body.writeUInt16LE(bits, 14);
  if (h.subFormat) {
    body.writeUInt16LE(22, 16);
    body.writeUInt16LE(bits, 18);
    Buffer.from(h.subFormat).copy(body, 24);
  }
  const chunk = (id: string, size: number, content: Uint8Array) => {
    const head = Buffer.alloc(8);
    head.write(id, 0, 'ascii');
    head.writeUInt32LE(size >>> 0, 4);
    return Buffer.concat([head, content]);
  };
  const dataBytes = h.dataBytes ?? 3200;
  const data = Buffer.alloc(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = (i * 37) & 0xff;
  const riffBody = Buffer.concat([
    Buffer.from('WAVE', 'ascii'),
    ...(h.noFmt ? [] : [chunk('fmt ', fmtSize, body.subarray(0, fmtSize))]),
    ...(h.extraChunks ? [h.extraChunks] : []),
    chunk('data', h.dataSize ?? dataBytes, data),
  ]);
  return chunk('RIFF', riffBody.length, riffBody);
}

/** A WAV file of mono float samples through wavefile (a reader's test must not use our own writer). */
export function wavFile(
  samples: Float32Array,
  sampleRate: number,
  bitDepth: '8' | '16' | '24' | '32f' = '16',
): Buffer {
  const wav = new wavefile.WaveFile();
  const scale = bitDepth === '16' ? 32767 : bitDepth === '24' ? 8388607 : bitDepth === '8' ? 127 : 1;
  // 8-bit WAV samples are unsigned, centred on 128.
  const offset = bitDepth === '8' ? 128 : 0;
  const values = Array.from(samples, (s) =>
    scale === 1 ? s : offset + Math.round(Math.max(-1, Math.min(1, s)) * scale),
  );
  wav.fromScratch(1, sampleRate, bitDepth, values);
  return Buffer.from(wav.toBuffer());
}

/** Uniform white noise of `amplitude`, from a seeded generator (mulberry32) so tests repeat. */
export function whiteNoise(sampleRate: number, seconds: number, amplitude = 0.5, seed = 7): Float32Array {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Float32Array.from({ length: Math.round(sampleRate * seconds) }, () => amplitude * (2 * next() - 1));
}
