// Downloads over HTTP(S) for any stage (audio sources here, model files for `codec` later): streams
// to disk, resumes a dropped transfer with Range (restarting from byte 0 when the server ignores it),
// retries 5xx/408/429 and network errors with backoff, checks Content-Length and an optional SHA-256,
// enforces a size limit, reports bytes, and stops on the stage's AbortSignal.
import { createHash } from 'node:crypto';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StageError } from '../../src/stage-api/index.ts';
import { hashPrefix, tooLarge, type WrittenFile } from './files.ts';
import { pinMismatch } from './pins.ts';
import { RetryableError, withRetries } from './retry.ts';

/** How hard to try; shared by fetchToFile and fetchJson. */
export interface RequestOptions {
  headers?: Record<string, string>;
  /** Tries after the first (default 5). */
  retries?: number;
  /** First backoff delay in ms (default 500); tests pass ~10. */
  retryBaseMs?: number;
  /** A request that receives nothing for this long is dropped and retried (default 60 s). */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
  /** Told before each retry, e.g. to write it to the stage log. */
  onRetry?: (message: string) => void;
}

export interface FetchToFileOptions extends RequestOptions {
  url: string;
  dest: string;
  /** Name used in errors (default: the URL). */
  name?: string;
  /** Expected lowercase hex SHA-256; on mismatch the file is deleted and an error names both. */
  sha256?: string;
  /** Most bytes the file may have (default: no limit). */
  maxBytes?: number;
  /** Called for each chunk written, with bytes so far and the total when the server said it. */
  onProgress?: (done: number, total: number | undefined) => void;
}

/** The downloaded file (size, SHA-256) and its Content-Type. */
export interface FetchedFile extends WrittenFile {
  contentType: string | null;
}

interface Transfer {
  /** Bytes of the file already on disk and trusted. */
  have: number;
  /** Strong ETag or Last-Modified of the first response, sent as If-Range when resuming. */
  validator?: string;
}

/** Downloads `url` to `dest`, resuming and retrying as needed; resolves once the file is complete. */
export async function fetchToFile(options: FetchToFileOptions): Promise<FetchedFile> {
  const { url, dest } = options;
  await mkdir(dirname(dest), { recursive: true });
  await rm(dest, { force: true });
  const transfer: Transfer = { have: 0 };
  const result = await withRetries(`GET ${url}`, retryOptions(options), async () => {
    transfer.have = await stat(dest).then(
      (s) => s.size,
      () => 0,
    );
    return attemptDownload(options, transfer);
  });
  const expected = options.sha256?.toLowerCase();
  if (expected && result.sha256 !== expected) {
    await rm(dest, { force: true });
    throw pinMismatch(options.name ?? url, expected, result.sha256, url);
  }
  return result;
}

/** GETs `url` and parses its JSON body, with the same retries (e.g. the Hugging Face Hub API). */
export async function fetchJson(url: string, options: RequestOptions = {}): Promise<unknown> {
  return withRetries(`GET ${url}`, retryOptions(options), () =>
    withIdleTimeout(options, async (signal, touch) => {
      const response = await send(url, { accept: 'application/json', ...options.headers }, signal);
      await checkStatus(response, url);
      const text = await response.text().catch((error) => {
        throw new RetryableError(describeNetworkError(error));
      });
      touch();
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new StageError(`GET ${url} did not return JSON (got: ${JSON.stringify(text.slice(0, 80))})`, {
          hint: 'check that the URL points at the API, not at a web page',
        });
      }
    }),
  );
}

async function attemptDownload(options: FetchToFileOptions, transfer: Transfer): Promise<FetchedFile> {
  const { url, dest } = options;
  return withIdleTimeout(options, async (signal, touch) => {
    const headers: Record<string, string> = { 'accept-encoding': 'identity', ...options.headers };
    if (transfer.have > 0) {
      headers.range = `bytes=${transfer.have}-`;
      if (transfer.validator) headers['if-range'] = transfer.validator;
    }
    const response = await send(url, headers, signal);
    touch();
    if (response.status === 416 && transfer.have > 0) {
      // The file changed size upstream, or the server cannot range: start over from byte 0.
      await response.body?.cancel();
      await rm(dest, { force: true });
      throw new RetryableError(`HTTP 416: the server refused to resume at byte ${transfer.have}`);
    }
    await checkStatus(response, url);
    const { offset, total } = await bodyRange(response, options, transfer);
    const name = options.name ?? url;
    if (total !== undefined && options.maxBytes !== undefined && total > options.maxBytes)
      throw tooLarge(name, options.maxBytes, total);
    const written = await appendBody(response, options, { offset, total, touch });
    if (total !== undefined && written.bytes !== total)
      throw new RetryableError(
        `the connection closed after ${written.bytes} of ${total} bytes (Content-Length)`,
      );
    return { ...written, contentType: response.headers.get('content-type') };
  });
}

/**
 * Where the body starts in the file and the file's size when known: a 206 continues at the byte
 * asked for (a different one starts over), a 200 is the whole file (and its validator is kept).
 */
async function bodyRange(
  response: Response,
  options: FetchToFileOptions,
  transfer: Transfer,
): Promise<{ offset: number; total: number | undefined }> {
  if (response.status === 206) {
    const range = parseContentRange(response.headers.get('content-range'));
    if (!range || range.start !== transfer.have) {
      await response.body?.cancel();
      await rm(options.dest, { force: true });
      throw new RetryableError(`the server sent a different range than asked (${range?.start ?? '?'})`);
    }
    return { offset: range.start, total: range.total };
  }
  // A 200 to a ranged request means the server ignored Range: the body is the whole file again.
  if (transfer.have > 0)
    options.onRetry?.(`${options.url}: the server ignored Range; restarting from byte 0`);
  const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const length = response.headers.get('content-length');
  const validator = response.headers.get('etag') ?? response.headers.get('last-modified');
  if (validator && !validator.startsWith('W/')) transfer.validator = validator;
  return { offset: 0, total: length !== null && !encoded ? Number(length) : undefined };
}

/** Writes the body at `offset` of the file, hashing the whole file (the part already there first). */
async function appendBody(
  response: Response,
  options: FetchToFileOptions,
  at: { offset: number; total: number | undefined; touch: () => void },
): Promise<{ bytes: number; sha256: string }> {
  const name = options.name ?? options.url;
  const hash = createHash('sha256');
  await hashPrefix(options.dest, at.offset, hash);
  const file = await open(options.dest, at.offset > 0 ? 'a' : 'w');
  let done = at.offset;
  try {
    const chunks = response.body?.[Symbol.asyncIterator]();
    while (chunks) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await chunks.next();
      } catch (error) {
        throw new RetryableError(describeNetworkError(error));
      }
      if (next.done) break;
      at.touch();
      done += next.value.length;
      if (options.maxBytes !== undefined && done > options.maxBytes) throw tooLarge(name, options.maxBytes);
      hash.update(next.value);
      await file.write(next.value);
      options.onProgress?.(done, at.total);
    }
  } finally {
    await file.close();
  }
  return { bytes: done, sha256: hash.digest('hex') };
}

/** Runs one request under an idle timer that `touch()` resets; a silent server becomes retryable. */
async function withIdleTimeout<T>(
  options: RequestOptions,
  body: (signal: AbortSignal, touch: () => void) => Promise<T>,
): Promise<T> {
  const idleMs = options.idleTimeoutMs ?? 60_000;
  const idle = new AbortController();
  let timer = setTimeout(() => idle.abort(), idleMs);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(), idleMs);
  };
  const signal = options.signal ? AbortSignal.any([options.signal, idle.signal]) : idle.signal;
  try {
    return await body(signal, touch);
  } catch (error) {
    options.signal?.throwIfAborted();
    if (idle.signal.aborted) throw new RetryableError(`no data for ${idleMs / 1000} s (timeout_seconds)`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function send(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
  try {
    return await fetch(url, { headers, signal, redirect: 'follow' });
  } catch (error) {
    signal.throwIfAborted();
    throw new RetryableError(describeNetworkError(error));
  }
}

/** Retryable for 408, 429 and 5xx; a StageError at once for any other non-2xx status. */
async function checkStatus(response: Response, url: string): Promise<void> {
  if (response.ok) return;
  await response.body?.cancel();
  const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  if (response.status === 408 || response.status === 429 || response.status >= 500)
    throw new RetryableError(status, retryAfterMs(response.headers.get('retry-after')));
  const hint =
    response.status === 401 || response.status === 403
      ? 'the server refused access: check the URL, and the token if it needs one (hf: sources read HF_TOKEN)'
      : response.status === 404
        ? 'check the URL (and, for hf: sources, the dataset name, revision and file path)'
        : 'check the URL';
  throw new StageError(`GET ${url} failed: ${status}`, { hint });
}

function retryOptions(options: RequestOptions) {
  return {
    retries: options.retries ?? 5,
    baseMs: options.retryBaseMs ?? 500,
    signal: options.signal,
    onRetry: ({ tries, delayMs, reason }: { tries: number; delayMs: number; reason: string }) =>
      options.onRetry?.(`try ${tries} failed (${reason}); retrying in ${(delayMs / 1000).toFixed(1)} s`),
  };
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function parseContentRange(header: string | null): { start: number; total?: number } | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!match) return undefined;
  return { start: Number(match[1]), total: match[2] === '*' ? undefined : Number(match[2]) };
}

/** "ECONNRESET: read ECONNRESET" from fetch's nested causes, instead of undici's bare "fetch failed". */
function describeNetworkError(error: unknown): string {
  let deepest = error as { message?: string; code?: string; cause?: unknown } | undefined;
  while (deepest?.cause) deepest = deepest.cause as typeof deepest;
  const message = deepest?.message ?? String(error);
  return deepest?.code && !message.includes(deepest.code) ? `${deepest.code}: ${message}` : message;
}
