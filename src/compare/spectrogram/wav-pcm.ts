// The samples of a WAV file for the report's spectrograms: RIFF/WAVE with integer PCM (8, 16, 24
// or 32 bits) or IEEE float (32 or 64 bits), WAVE_FORMAT_EXTENSIBLE included, mixed down to mono.
// The engine cannot use the stages' reader (stages/audio), so this is its own small one; anything
// else is refused with a sentence the report shows in place of the picture.

export interface PcmAudio {
  sampleRate: number;
  /** Mono, in [-1, 1] for integer PCM (float files are taken as they are). */
  samples: Float32Array;
}

/** Decodes `bytes`, or throws an Error whose message ("it is not …") says what is wrong with the file. */
export function readWavPcm(bytes: Uint8Array): PcmAudio {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE')
    throw new Error('it is not a RIFF/WAVE file');
  let format: { code: number; channels: number; sampleRate: number; bits: number } | undefined;
  let data: Uint8Array | undefined;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + size));
    if (id === 'fmt ' && body.length >= 16) {
      let code = view.getUint16(at + 8, true);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
      if (code === 0xfffe && body.length >= 26) code = view.getUint16(at + 8 + 24, true);
      format = {
        code,
        channels: view.getUint16(at + 10, true),
        sampleRate: view.getUint32(at + 12, true),
        bits: view.getUint16(at + 22, true),
      };
    } else if (id === 'data') data = body;
    at += 8 + size + (size & 1); // chunks are padded to an even size
  }
  if (!format) throw new Error('it has no fmt chunk');
  if (!data) throw new Error('it has no data chunk');
  const { code, channels, sampleRate, bits } = format;
  const read = sampleReader(code, bits);
  if (!read) throw new Error(`its format ${code} with ${bits}-bit samples is neither integer PCM nor float`);
  if (channels < 1 || sampleRate < 1)
    throw new Error(`it declares ${channels} channel(s) at ${sampleRate} Hz`);
  const width = bits / 8;
  const frames = Math.floor(data.length / (width * channels));
  const samples = new Float32Array(frames);
  const dataView = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += read(dataView, (i * channels + c) * width);
    samples[i] = sum / channels;
  }
  return { sampleRate, samples };
}

type Reader = (view: DataView, at: number) => number;

function sampleReader(code: number, bits: number): Reader | undefined {
  if (code === 1) {
    if (bits === 8) return (v, at) => (v.getUint8(at) - 128) / 128;
    if (bits === 16) return (v, at) => v.getInt16(at, true) / 32768;
    if (bits === 24)
      return (v, at) => (v.getUint8(at) | (v.getUint8(at + 1) << 8) | (v.getInt8(at + 2) << 16)) / 8388608;
    if (bits === 32) return (v, at) => v.getInt32(at, true) / 2147483648;
  }
  if (code === 3) {
    if (bits === 32) return (v, at) => v.getFloat32(at, true);
    if (bits === 64) return (v, at) => v.getFloat64(at, true);
  }
  return undefined;
}
