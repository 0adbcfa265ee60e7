// The body of the `download` stage, loaded only when it runs: one function per source kind, each
// writing into audio/ and returning manifest entries; then the sha256 pins are settled and
// manifest.json is written. Heavy or I/O modules are imported here, never by download.ts.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, posix, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatBytes, type StageContext, StageError } from '../src/stage-api/index.ts';
import { type DownloadedFile, writeDownloadManifest } from './contracts/download-manifest.ts';
import { fromHub } from './download/hub.ts';
import { type Job, remaining } from './download/job.ts';
import type { DownloadParams } from './download.ts';
import { hashPrefix, listFolder, looksLikeZip, tooLarge, writeHashed } from './lib/files.ts';
import { fetchToFile } from './lib/http.ts';
import { compileInclude, selectIncluded } from './lib/include.ts';
import { Pins } from './lib/pins.ts';
import { byteProgress } from './lib/progress.ts';
import { parseSource, type Source } from './lib/sources.ts';
import { extractZip } from './lib/zip.ts';

/** Runs the stage: fetch the source, check the pins, write manifest.json. */
export async function runDownload(ctx: StageContext<DownloadParams>): Promise<void> {
  const p = ctx.params;
  const source = parseSource(p.source);
  if ('error' in source) throw new StageError(source.error);
  const job: Job = {
    ctx,
    audioDir: join(ctx.outDir, 'audio'),
    scratch: join(ctx.outDir, '.partial'),
    include: compileInclude(p.include),
    pins: new Pins(p.sha256 ?? {}),
    request: {
      retries: p.retries,
      retryBaseMs: p.retry_base_ms,
      idleTimeoutMs: p.timeout_seconds * 1000,
      signal: ctx.signal,
      onRetry: (message) => ctx.log(message),
    },
    written: 0,
    localUrl: (path) => {
      if (source.kind !== 'local' || isAbsolute(source.path)) return pathToFileURL(path).href;
      const inside = relative(ctx.dep(source.path), path).split(sep).join('/');
      return inside ? posix.join(source.path.split(sep).join('/'), inside) : source.path;
    },
  };
  let files: DownloadedFile[];
  try {
    files = await readSource(job, source);
  } finally {
    await rm(job.scratch, { recursive: true, force: true });
  }
  job.pins.assertAllUsed(files.map((f) => f.file.slice('audio/'.length)));
  files.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  await writeDownloadManifest(ctx.outDir, { source: p.source, files });
  const bytes = files.reduce((sum, f) => sum + f.bytes, 0);
  ctx.metric('files', files.length);
  ctx.metric('bytes', bytes);
  ctx.log(`${files.length} files, ${formatBytes(bytes)} from ${p.source}`);
}

function readSource(job: Job, source: Source): Promise<DownloadedFile[]> {
  switch (source.kind) {
    case 'http':
      return fromUrl(job, source.url);
    case 'local':
      return fromLocal(job, job.ctx.dep(source.path));
    case 'hf':
      return fromHub(job, source);
  }
}

// ---- http(s): one file, or a zip -------------------------------------------------------------

async function fromUrl(job: Job, url: string): Promise<DownloadedFile[]> {
  const name = fileNameOf(url);
  const tmp = join(job.scratch, name);
  const fetched = await fetchToFile({
    ...job.request,
    url,
    dest: tmp,
    name,
    sha256: job.pins.expected(name),
    maxBytes: remaining(job),
    onProgress: byteProgress(job.ctx.progress, name),
  });
  if (name.toLowerCase().endsWith('.zip') || (await looksLikeZip(tmp))) return fromZip(job, tmp, name, url);
  if (fetched.contentType?.startsWith('text/html'))
    throw new StageError(`${url} answered with a web page (text/html), not an audio file or a zip`, {
      hint: 'use the direct download link of the file',
    });
  await mkdir(job.audioDir, { recursive: true });
  await rename(tmp, join(job.audioDir, name));
  job.written += fetched.bytes;
  return [{ file: `audio/${name}`, bytes: fetched.bytes, sha256: fetched.sha256, url }];
}

/** The file name at the end of a URL's path: what the single file (or the zip) is called. */
function fileNameOf(url: string): string {
  const last = new URL(url).pathname.split('/').pop() ?? '';
  let name = last;
  try {
    name = decodeURIComponent(last);
  } catch {
    // A stray "%" that is no escape: keep the segment as written.
  }
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name))
    throw new StageError(`cannot tell a file name from the URL ${url}`, {
      hint: 'use a URL whose path ends in the file name, e.g. https://host/path/book.zip',
    });
  return name;
}

// ---- zip (downloaded or local) -------------------------------------------------------------

async function fromZip(job: Job, zipPath: string, name: string, url: string): Promise<DownloadedFile[]> {
  const report = byteProgress(job.ctx.progress, `extracting ${name}`);
  const extracted = await extractZip(zipPath, job.audioDir, {
    include: job.include,
    maxBytes: remaining(job),
    name,
    signal: job.ctx.signal,
    onBytes: report,
  });
  return extracted.map((f) => {
    job.pins.check(f.path, f.sha256, name);
    job.written += f.bytes;
    return { file: `audio/${f.path}`, bytes: f.bytes, sha256: f.sha256, url };
  });
}

// ---- local file, zip or folder -------------------------------------------------------------

async function fromLocal(job: Job, path: string): Promise<DownloadedFile[]> {
  const info = await stat(path).catch(() => {
    throw new StageError(`the source ${path} does not exist`, {
      hint: 'check the path; a relative one is relative to the folder of pipeline.yaml',
    });
  });
  if (info.isDirectory()) return fromFolder(job, path);
  const name = basename(path);
  const url = job.localUrl(path);
  if (name.toLowerCase().endsWith('.zip') || (await looksLikeZip(path))) {
    if (job.pins.expected(name)) {
      const hash = createHash('sha256');
      await hashPrefix(path, info.size, hash);
      job.pins.check(name, hash.digest('hex'), url);
    }
    return fromZip(job, path, name, url);
  }
  const file = await copyFile(job, path, join(job.audioDir, name), name, info.size);
  job.pins.check(name, file.sha256, url);
  return [{ file: `audio/${name}`, bytes: file.bytes, sha256: file.sha256, url }];
}

async function fromFolder(job: Job, root: string): Promise<DownloadedFile[]> {
  const all = await listFolder(root);
  const selected = selectIncluded(root, job.include, all);
  const declared = selected.reduce((sum, f) => sum + f.size, 0);
  if (declared > remaining(job))
    throw tooLarge(`${root} (${selected.length} files)`, remaining(job), declared);
  const files: DownloadedFile[] = [];
  for (const { path, size } of selected) {
    const src = join(root, path);
    const url = job.localUrl(src);
    const file = await copyFile(job, src, join(job.audioDir, path), path, size);
    job.pins.check(path, file.sha256, url);
    files.push({ file: `audio/${path}`, bytes: file.bytes, sha256: file.sha256, url });
  }
  return files;
}

async function copyFile(job: Job, src: string, dest: string, name: string, size: number) {
  const report = byteProgress(job.ctx.progress, name);
  const file = await writeHashed(createReadStream(src), dest, {
    maxBytes: remaining(job),
    name,
    signal: job.ctx.signal,
    onBytes: (done) => report(done, size),
  });
  job.written += file.bytes;
  return file;
}
