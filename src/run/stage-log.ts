// A stage's log: every line goes to cache/logs/<key>.log as it comes, and the last lines are kept
// for the run record and for the error report of a failed stage. The file gets the raw bytes; the
// kept lines (shown on the terminal, stored in the record) are made printable first.
import { close as fsClose, mkdirSync, open, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { printable } from '../util/printable.ts';

const TAIL_LINES = 40;

/** Log folders this process made or found: every stage of a run logs into the same one. */
const madeFolders = new Set<string>();

function ensureFolder(dir: string): void {
  if (madeFolders.has(dir)) return;
  mkdirSync(dir, { recursive: true });
  madeFolders.add(dir);
}

export class StageLog {
  /** The open log file; undefined until it is open (writes wait in `pending` meanwhile). */
  private fd: number | undefined;
  private pending: Buffer[] = [];
  private readonly opened: Promise<void>;
  private readonly lines: string[] = [];
  private partial = '';
  /** The first write error (e.g. ENOSPC): the log stops writing; close() reports it. */
  private failure: Error | undefined;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly onLine: (line: string) => void,
  ) {
    ensureFolder(dirname(path));
    // Made off this thread (making a file can take a while on a busy disk); a full disk or an
    // unwritable folder fails the stage when the log is closed, never the whole process.
    this.opened = new Promise<void>((resolve) => {
      open(path, 'w', (error, fd) => {
        if (error) this.failure ??= error;
        else {
          this.fd = fd;
          for (const data of this.pending) this.append(data);
        }
        this.pending = [];
        resolve();
      });
    });
  }

  /** Output from a process (`raw`: its bytes, when `chunk` was decoded from them); split into lines. */
  write(chunk: string, raw?: Buffer): void {
    const data = raw ?? Buffer.from(chunk);
    if (this.fd !== undefined) this.append(data);
    else if (!this.closed) this.pending.push(data);
    const parts = (this.partial + chunk).split(/\r?\n|\r/);
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.push(line);
  }

  line(text: string): void {
    this.write(`${text}\n`);
  }

  tail(): string {
    return [...this.lines, ...(this.partial ? [printable(this.partial)] : [])].join('\n');
  }

  async close(): Promise<void> {
    if (this.partial) this.push(this.partial);
    this.partial = '';
    this.closed = true;
    await this.opened;
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await new Promise<void>((resolve) => fsClose(fd, () => resolve()));
    if (this.failure) throw this.failure;
  }

  /**
   * NOTE: synchronous: a write of what a command printed is one quick call into the page cache,
   * where a stream spent a round trip through libuv's thread pool (and the main thread's time) on
   * each. A failed write stops the log.
   */
  private append(data: Buffer): void {
    if (this.failure || this.fd === undefined) return;
    try {
      for (let at = 0; at < data.length; ) at += writeSync(this.fd, data, at);
    } catch (error) {
      this.failure ??= error as Error;
    }
  }

  private push(raw: string): void {
    const line = printable(raw);
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
    this.onLine(line);
  }
}
