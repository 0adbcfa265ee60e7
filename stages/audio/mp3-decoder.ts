// MP3 decoding with mpg123-decoder's WebAssembly build of mpg123, driven through its wasm exports
// instead of its decode(). decode() copies every frame twice (a slice per channel, then one concat
// per call) and leaves the copies to the garbage collector; here each frame is copied once from
// the decoder's output buffer into planar buffers that are reused, which decodes about 12 % faster
// (measured on a 150 s 44.1 kHz stereo chapter: 615× → 670× realtime on one core). The samples are
// the library's own, bit for bit (test/unit/mp3-decoder.test.ts compares them with decode()).
//
// This reads fields that mpg123-decoder sets up in its constructor, so package.json pins its exact
// version; `open` checks they are there and says so when an upgrade moved them.
import { MPEGDecoder } from 'mpg123-decoder';

/** mpg123's return codes that are not errors (libmpg123's mpg123.h). */
const MPG123_NEED_MORE = -10;
const MPG123_NEW_FORMAT = -11;

interface HeapArray<T> {
  ptr: number;
  len: number;
  buf: T;
}

/** What mpg123-decoder 1.0.3 keeps on the instance once `ready` resolves. */
interface DecoderInternals {
  _common: {
    wasm: {
      mpeg_decoder_feed(decoder: number, input: number, length: number): number;
      mpeg_decoder_read(
        decoder: number,
        output: number,
        outputLength: number,
        samplesDecoded: number,
        sampleRate: number,
        errorString: number,
      ): number;
    };
    codeToString(pointer: number): string;
  };
  _decoder: number;
  _input: HeapArray<Uint8Array>;
  _output: HeapArray<Float32Array>;
  _samplesDecodedPtr: HeapArray<Uint32Array>;
  _sampleRatePtr: HeapArray<Uint32Array>;
  _errorStringPtr: HeapArray<Uint32Array>;
}

/** A decoding error as mpg123 reports it, with how far the decoder had got. */
export class Mp3DataError extends Error {
  constructor(
    message: string,
    /** Bytes fed to the decoder when it failed. */
    readonly inputBytes: number,
    /** Samples per channel decoded before it failed. */
    readonly outputSamples: number,
  ) {
    super(message);
  }
}

export class Mp3Decoder {
  // 2^18 samples hold what a 64 KiB read decodes to at 44.1 kHz and 128 kbps or more; lower
  // bitrates grow them once or twice per file.
  private left = new Float32Array(1 << 18);
  private right = new Float32Array(1 << 18);
  private inputBytes = 0;
  private outputSamples = 0;
  /** The stream's sample rate; 0 until the first frame is decoded. */
  sampleRate = 0;

  private constructor(
    private readonly library: MPEGDecoder,
    private readonly d: DecoderInternals,
  ) {}

  static async open(): Promise<Mp3Decoder> {
    const library = new MPEGDecoder();
    await library.ready;
    const d = library as unknown as DecoderInternals;
    if (
      typeof d._common?.wasm?.mpeg_decoder_read !== 'function' ||
      !(d._output?.buf instanceof Float32Array) ||
      !(d._input?.buf instanceof Uint8Array)
    ) {
      library.free();
      throw new Error(
        'mpg123-decoder is not the version gpt2o-pipe drives directly (1.0.3, pinned in package.json); reinstall with `npm ci`',
      );
    }
    return new Mp3Decoder(library, d);
  }

  /**
   * Decodes `bytes` (any slice of the stream) and returns the planar samples of every frame it
   * completed: views of buffers reused by the next call, so use or copy them before calling again.
   * Throws Mp3DataError on corrupt data.
   */
  decode(bytes: Uint8Array): { left: Float32Array; right: Float32Array; samples: number } {
    const { d } = this;
    const wasm = d._common.wasm;
    let filled = 0;
    for (let offset = 0; offset < bytes.length; ) {
      const piece = bytes.subarray(offset, offset + d._input.len);
      offset += piece.length;
      this.inputBytes += piece.length;
      d._input.buf.set(piece);
      let code = wasm.mpeg_decoder_feed(d._decoder, d._input.ptr, piece.length);
      if (code === MPG123_NEED_MORE) continue;
      for (;;) {
        d._samplesDecodedPtr.buf[0] = 0;
        code = wasm.mpeg_decoder_read(
          d._decoder,
          d._output.ptr,
          d._output.len,
          d._samplesDecodedPtr.ptr,
          d._sampleRatePtr.ptr,
          d._errorStringPtr.ptr,
        );
        const count = d._samplesDecodedPtr.buf[0]!;
        if (count > 0) {
          this.reserve(filled + count);
          // The output buffer holds the frame planar: `count` left samples, then `count` right.
          this.left.set(d._output.buf.subarray(0, count), filled);
          this.right.set(d._output.buf.subarray(count, 2 * count), filled);
          filled += count;
          this.outputSamples += count;
          this.sampleRate = d._sampleRatePtr.buf[0]!;
        }
        if (code === MPG123_NEW_FORMAT) continue;
        if (code === MPG123_NEED_MORE) break;
        if (code !== 0) {
          const reason = `${code} ${d._common.codeToString(d._errorStringPtr.buf[0]!)}`;
          throw new Mp3DataError(reason, this.inputBytes, this.outputSamples);
        }
      }
    }
    return { left: this.left.subarray(0, filled), right: this.right.subarray(0, filled), samples: filled };
  }

  free(): void {
    this.library.free();
  }

  private reserve(samples: number): void {
    if (samples <= this.left.length) return;
    const size = Math.max(samples, this.left.length * 2);
    const grow = (old: Float32Array) => {
      const grown = new Float32Array(size);
      grown.set(old);
      return grown;
    };
    this.left = grow(this.left);
    this.right = grow(this.right);
  }
}
