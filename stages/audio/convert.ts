// One file: decode → mix to mono → resample → write WAV, all streamed. Runs inside a worker.
import { AudioDecodeError, decodeFile } from './decode.ts';
import { badSourceFormat } from './decoded-chunk.ts';
import { PolyphaseResampler, type Quality } from './polyphase.ts';
import { type SampleFormat, WavWriter } from './wav-writer.ts';

export interface ConvertJob {
  input: string;
  output: string;
  sampleRate: number;
  quality: Quality;
  format: SampleFormat;
}

export interface ConvertResult {
  sourceRate: number;
  sourceChannels: number;
  sourceSeconds: number;
  samples: number;
  seconds: number;
}

/** Converts one file; `onProgress` gets seconds of source audio done. */
export async function convertFile(
  job: ConvertJob,
  onProgress: (seconds: number) => void,
): Promise<ConvertResult> {
  let resampler: PolyphaseResampler | undefined;
  let writer: WavWriter | undefined;
  let sourceRate = 0;
  let sourceChannels = 0;
  let sourceSamples = 0;
  try {
    for await (const chunk of decodeFile(job.input)) {
      if (!resampler) {
        // Every decoder's header (WAV, FLAC STREAMINFO, MPEG frame) passes the same bounds.
        const bad = badSourceFormat(chunk.sampleRate, chunk.channels.length);
        if (bad) throw new AudioDecodeError(job.input, `near byte ${chunk.byteOffset}`, bad);
        sourceRate = chunk.sampleRate;
        sourceChannels = chunk.sourceChannels;
        resampler = new PolyphaseResampler(sourceRate, job.sampleRate, job.quality);
        writer = new WavWriter(job.output, job.sampleRate, job.format);
      } else if (chunk.sampleRate !== sourceRate) {
        // Joined files of different rates: resampling it all at the first rate would change pitch.
        throw new AudioDecodeError(
          job.input,
          `near byte ${chunk.byteOffset}`,
          `the sample rate changes from ${sourceRate} to ${chunk.sampleRate} Hz mid-file`,
        );
      }
      sourceSamples += chunk.channels[0]!.length;
      writer!.write(resampler.processChannels(chunk.channels));
      onProgress(sourceSamples / sourceRate);
    }
    writer!.write(resampler!.flush());
    const samples = writer!.samples;
    writer!.close();
    writer = undefined;
    return {
      sourceRate,
      sourceChannels,
      sourceSeconds: sourceSamples / sourceRate,
      samples,
      seconds: samples / job.sampleRate,
    };
  } finally {
    writer?.close();
  }
}
