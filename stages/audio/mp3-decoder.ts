// MP3 decoding for resample: libmpg123 1.31.2 compiled to WebAssembly by mpg123/build.sh, mixing
// to mono inside the decoder (before synthesis) and decoding many frames per call.
//
// Why not mpg123-decoder's decode(): it is the same library, but always synthesizes both channels
// and copies every frame twice on the JS side. On a 150 s 44.1 kHz stereo chapter (one core) it
// decodes at ~615× realtime, this at ~1250×, and decoding is most of resample's time. The samples
// match mpg123-decoder's (L+R)/2 to float rounding (test/unit/audio-io.test.ts keeps that true).
import { readFileSync } from 'node:fs';

/** mpg123's return codes (libmpg123's mpg123.h). */
const MPG123_OK = 0;
const MPG123_NEED_MORE = -10;
const MPG123_NEW_FORMAT = -11;

/** Bytes copied into the decoder per feed call, and decoded output bytes per read call. */
const INPUT_BYTES = 64 << 10;
const OUTPUT_BYTES = 1 << 20;

interface Exports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  malloc(size: number): number;
  mp3_open(): number;
  mp3_feed(handle: number, bytes: number, size: number): number;
  mp3_read(handle: number, out: number, capacity: number, written: number): number;
  mp3_rate(handle: number): number;
  mp3_error(handle: number): number;
  mp3_close(handle: number): void;
}

/**
 * Bundled, the module is dist/mpg123.wasm beside this chunk (scripts/build.mjs copies it); from
 * source it is in mpg123/. Compiled once per thread.
 */
let compiled: WebAssembly.Module | undefined;
function mpg123Module(): WebAssembly.Module {
  if (!compiled) {
    const path = import.meta.url.endsWith('.ts') ? './mpg123/mpg123.wasm' : './mpg123.wasm';
    compiled = new WebAssembly.Module(readFileSync(new URL(path, import.meta.url)));
  }
  return compiled;
}

/** A decoding error as mpg123 reports it, with how far the decoder had got. */
export class Mp3DataError extends Error {
  constructor(
    message: string,
    /** Bytes fed to the decoder when it failed. */
    readonly inputBytes: number,
    /** Samples decoded before it failed. */
    readonly outputSamples: number,
  ) {
    super(message);
  }
}

/** One stream, decoded to mono float samples: (left + right) / 2 for stereo. */
export class Mp3Decoder {
  private samples = new Float32Array(1 << 18);
  private inputBytes = 0;
  private outputSamples = 0;
  /** The stream's sample rate; 0 until the first frame is decoded. */
  sampleRate = 0;

  private constructor(
    private readonly wasm: Exports,
    private readonly handle: number,
    private readonly input: number,
    private readonly output: number,
    private readonly written: number,
  ) {}

  /** Each decoder has an instance of its own (its memory is freed with it). */
  static open(): Mp3Decoder {
    // The C library is linked with stdio it never uses on a feed: its file calls fail (ENOSYS).
    const nosys = () => 52;
    const instance = new WebAssembly.Instance(mpg123Module(), {
      env: { emscripten_notify_memory_growth: () => undefined },
      wasi_snapshot_preview1: { fd_close: nosys, fd_read: nosys, fd_write: nosys, fd_seek: nosys },
    });
    const wasm = instance.exports as unknown as Exports;
    wasm._initialize();
    const handle = wasm.mp3_open();
    if (handle === 0) throw new Error('libmpg123 could not create a decoder (out of memory?)');
    return new Mp3Decoder(wasm, handle, wasm.malloc(INPUT_BYTES), wasm.malloc(OUTPUT_BYTES), wasm.malloc(4));
  }

  /**
   * Decodes `bytes` (any slice of the stream) and returns the samples of every frame it completed:
   * a view of a buffer reused by the next call, so use or copy it before calling again. Throws
   * Mp3DataError on data mpg123 cannot resync past.
   */
  decode(bytes: Uint8Array): Float32Array {
    const { wasm, handle } = this;
    let filled = 0;
    for (let offset = 0; offset < bytes.length; ) {
      const piece = bytes.subarray(offset, offset + INPUT_BYTES);
      offset += piece.length;
      this.inputBytes += piece.length;
      new Uint8Array(wasm.memory.buffer, this.input, piece.length).set(piece);
      if (wasm.mp3_feed(handle, this.input, piece.length) !== MPG123_OK) this.fail();
      for (;;) {
        const code = wasm.mp3_read(handle, this.output, OUTPUT_BYTES, this.written);
        // Views are made after the call: decoding may grow the memory, which detaches old ones.
        const count = new Uint32Array(wasm.memory.buffer, this.written, 1)[0]! / 4;
        if (count > 0) {
          this.reserve(filled + count);
          this.samples.set(new Float32Array(wasm.memory.buffer, this.output, count), filled);
          filled += count;
          this.outputSamples += count;
        }
        if (code === MPG123_NEW_FORMAT) this.sampleRate = wasm.mp3_rate(handle);
        else if (code === MPG123_NEED_MORE) break;
        else if (code !== MPG123_OK) this.fail();
      }
    }
    return this.samples.subarray(0, filled);
  }

  free(): void {
    this.wasm.mp3_close(this.handle);
  }

  private fail(): never {
    const memory = new Uint8Array(this.wasm.memory.buffer);
    const start = this.wasm.mp3_error(this.handle);
    const end = memory.indexOf(0, start);
    const reason = Buffer.from(memory.subarray(start, end)).toString('latin1');
    throw new Mp3DataError(reason, this.inputBytes, this.outputSamples);
  }

  private reserve(samples: number): void {
    if (samples <= this.samples.length) return;
    const grown = new Float32Array(Math.max(samples, this.samples.length * 2));
    grown.set(this.samples);
    this.samples = grown;
  }
}
