// The MP3s that section 4 resamples: one 44.1 kHz stereo 128 kbps file of pink noise plus a 440 Hz
// tone, and the same signal as 4 chapters. Encoding takes seconds, so they live in os.tmpdir() under
// fixed names and are reused by later runs (delete them by hand). ffmpeg makes them; without it,
// lame encodes the same kind of signal generated here (into files named `…-lame.mp3`). The long file
// for the memory check is the main file's bytes repeated, built in the caller's temp folder (it takes
// well under a second).
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isInstalled } from './tools.ts';

export const CHAPTERS = 4;
const RATE = 44100;

export interface Mp3Input {
  /** The whole signal in one file. */
  path: string;
  /** The same signal cut into CHAPTERS files of equal length. */
  chapters: string[];
  seconds: number;
  encoder: 'ffmpeg' | 'lame';
}

/** The cached MP3s of `seconds` seconds, made if missing; null when neither ffmpeg nor lame exists. */
export function ensureMp3Input(seconds: number, log: (line: string) => void): Mp3Input | null {
  const encoder = isInstalled('ffmpeg') ? 'ffmpeg' : isInstalled('lame') ? 'lame' : null;
  if (encoder === null) return null;
  const base = join(tmpdir(), `gpt2o-pipe-bench-${seconds}s${encoder === 'lame' ? '-lame' : ''}`);
  const path = `${base}.mp3`;
  const chapters = Array.from({ length: CHAPTERS }, (_, i) => `${base}-ch${i + 1}.mp3`);
  if ([path, ...chapters].every((p) => (sizeOf(p) ?? 0) > 0)) return { path, chapters, seconds, encoder };

  log(
    `encoding ${seconds} s of audio with ${encoder} to ${path} and ${CHAPTERS} chapters (kept for later runs)`,
  );
  const piece = seconds / CHAPTERS;
  if (encoder === 'ffmpeg') {
    atomically(path, (tmp) =>
      run('ffmpeg', [
        ...['-v', 'error', '-y', '-f', 'lavfi', '-i', `anoisesrc=d=${seconds}:c=pink:r=${RATE}:a=0.1`],
        ...['-f', 'lavfi', '-i', `sine=f=440:d=${seconds}:r=${RATE}`],
        ...['-filter_complex', '[0][1]amix=inputs=2,aformat=channel_layouts=stereo'],
        ...['-ac', '2', '-b:a', '128k', '-f', 'mp3', tmp],
      ]),
    );
    chapters.forEach((chapter, i) => {
      atomically(chapter, (tmp) =>
        run('ffmpeg', [
          ...['-v', 'error', '-y', '-ss', String(i * piece), '-t', String(piece), '-i', path],
          ...['-c', 'copy', '-f', 'mp3', tmp],
        ]),
      );
    });
  } else {
    const pcm = pinkNoisePlusTone(seconds);
    const bytesPerPiece = piece * RATE * 4;
    atomically(path, (tmp) => lame(pcm, tmp));
    chapters.forEach((chapter, i) => {
      atomically(chapter, (tmp) => lame(pcm.subarray(i * bytesPerPiece, (i + 1) * bytesPerPiece), tmp));
    });
  }
  return { path, chapters, seconds, encoder };
}

/** Writes `copies` back-to-back copies of `source` to `target` (MP3 frames concatenate into one stream). */
export function concatMp3(source: string, copies: number, target: string, stripHeaders = false): void {
  const bytes = readFileSync(source);
  const piece = stripHeaders ? withoutHeaders(bytes) : bytes;
  writeFileSync(target, Buffer.concat(Array.from({ length: copies }, () => piece)));
}

/**
 * The MP3 without a leading ID3v2 tag and Xing/Info frame, whose frame count would describe one copy
 * only: the fallback for a decoder that trusts that count and stops after the first copy.
 */
function withoutHeaders(mp3: Buffer): Buffer {
  let at = 0;
  if (mp3.toString('latin1', 0, 3) === 'ID3') {
    const size =
      ((mp3[6]! & 0x7f) << 21) | ((mp3[7]! & 0x7f) << 14) | ((mp3[8]! & 0x7f) << 7) | (mp3[9]! & 0x7f);
    at = 10 + size + (mp3[5]! & 0x10 ? 10 : 0);
  }
  const length = layer3FrameLength(mp3, at);
  if (length !== null && /Xing|Info/.test(mp3.toString('latin1', at + 4, at + 48))) at += length;
  return mp3.subarray(at);
}

const KBPS_MPEG1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const KBPS_MPEG2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/** Bytes in the MPEG layer III frame at `at`, or null when no valid frame header is there. */
function layer3FrameLength(b: Buffer, at: number): number | null {
  if (b[at] !== 0xff || ((b[at + 1] ?? 0) & 0xe0) !== 0xe0) return null;
  const version = (b[at + 1]! >> 3) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
  const layer = (b[at + 1]! >> 1) & 3; // 1: layer III
  const kbps = (version === 3 ? KBPS_MPEG1 : KBPS_MPEG2)[b[at + 2]! >> 4];
  const rate = [44100, 48000, 32000][(b[at + 2]! >> 2) & 3];
  if (version === 1 || layer !== 1 || !kbps || !rate) return null;
  const divisor = version === 3 ? 1 : version === 2 ? 2 : 4;
  const padding = (b[at + 2]! >> 1) & 1;
  return Math.floor(((version === 3 ? 144000 : 72000) * kbps) / (rate / divisor)) + padding;
}

/**
 * What the ffmpeg command makes, for lame: interleaved 16-bit stereo PCM of pink noise (Kellet's
 * filter on a fixed-seed xorshift) plus a 440 Hz sine, averaged as amix does, the same on both sides.
 */
function pinkNoisePlusTone(seconds: number): Buffer {
  const frames = seconds * RATE;
  const pcm = Buffer.alloc(frames * 4);
  let seed = 0x9e3779b9;
  let b0 = 0;
  let b1 = 0;
  let b2 = 0;
  for (let i = 0; i < frames; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const white = (seed >>> 0) / 2 ** 31 - 1;
    b0 = 0.99765 * b0 + white * 0.099046;
    b1 = 0.963 * b1 + white * 0.2965164;
    b2 = 0.57 * b2 + white * 1.0526913;
    const pink = (b0 + b1 + b2 + white * 0.1848) * 0.025;
    const sample = (pink * 0.5 + 0.125 * Math.sin((2 * Math.PI * 440 * i) / RATE) * 0.5) * 32767;
    const s = Math.max(-32768, Math.min(32767, Math.round(sample)));
    pcm.writeInt16LE(s, i * 4);
    pcm.writeInt16LE(s, i * 4 + 2);
  }
  return pcm;
}

function lame(pcm: Buffer, out: string): void {
  run(
    'lame',
    [
      '--silent',
      '-r',
      '-s',
      '44.1',
      '--bitwidth',
      '16',
      '--signed',
      '--little-endian',
      '-b',
      '128',
      '-',
      out,
    ],
    pcm,
  );
}

function run(file: string, args: string[], input?: Buffer): void {
  const result = spawnSync(file, args, {
    input,
    stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (result.error || result.status !== 0) {
    throw new Error(`${file} ${args.join(' ')}: ${result.error?.message ?? result.stderr.trim()}`);
  }
}

/** Writes through a temp name, so an interrupted run never leaves a short file under the real one. */
function atomically(path: string, write: (tmp: string) => void): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    write(tmp);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}
