// A stage's log: every line goes to cache/logs/<key>.log as it comes, and the last lines are kept
// for the run record and for the error report of a failed stage. The file gets the raw bytes; the
// kept lines (shown on the terminal, stored in the record) are made printable first.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
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
  private readonly stream: WriteStream;
  private readonly lines: string[] = [];
  private partial = '';
  /** The first write error (e.g. ENOSPC): the log stops writing; close() reports it. */
  private failure: Error | undefined;

  constructor(
    readonly path: string,
    private readonly onLine: (line: string) => void,
  ) {
    ensureFolder(dirname(path));
    this.stream = createWriteStream(path);
    // Without a handler a full disk would crash the whole process; the stage fails instead.
    this.stream.on('error', (error) => {
      this.failure ??= error;
    });
  }

  /** Output from a process (`raw`: its bytes, when `chunk` was decoded from them); split into lines. */
  write(chunk: string, raw?: Buffer): void {
    if (!this.failure) this.stream.write(raw ?? chunk);
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
    if (!this.failure) await new Promise<void>((resolve) => this.stream.end(resolve));
    else this.stream.destroy();
    if (this.failure) throw this.failure;
  }

  private push(raw: string): void {
    const line = printable(raw);
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
    this.onLine(line);
  }
}
