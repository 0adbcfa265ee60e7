// `gpt2o-pipe watch [EXPERIMENT]`: run, then run again whenever a spec file, a dep or a built-in
// stage's source changes. Each cycle resolves the spec anew (so param edits count) and goes through
// the same code as `run`; the cache makes a rerun execute only the stages a change can affect.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { relative, resolve } from 'node:path';
import type { FSWatcher } from 'chokidar';
import { EXIT_INTERRUPTED, EXIT_OK, PipeError } from '../../errors.ts';
import { readSpecChain } from '../../pipeline/chain.ts';
import { formatError } from '../../report/format-error.ts';
import { defaultExperiment, parseCommandArgs, parseJobs, parseWorkers } from '../args.ts';
import type { CliIo } from '../io.ts';
import { inputPaths, isInside, stageSourcesDir } from '../watch-paths.ts';
import { openWorkspace } from '../workspace.ts';
import { runWorkspace } from './run.ts';

export const WATCH_HELP = `Usage: gpt2o-pipe watch [EXPERIMENT] [options]

Runs an experiment, then watches the files it reads and runs it again after each change: the
experiment file and the files it extends, the deps: of its stages, and (in a source checkout)
the built-in stages' sources in stages/. Param edits count: the spec is read again every time.
Only the stages a change affects run again; the rest come from the cache. A change during a run
stops it and starts a new one. A spec error is printed and watch waits for the next change.
Ctrl-C stops it (exit code 130).

  EXPERIMENT          an experiment or pipeline file (default: experiments/demo.yaml
                      when it exists, else pipeline.yaml)
  --set KEY=VALUE     override a param (repeatable), as with run
  --jobs N            run up to N independent stages at once (default: CPU count)
  --debounce MS       wait until files have been quiet this long before running (default: 300)
  --cache DIR         cache folder
`;

const OPTIONS = {
  set: { type: 'string', multiple: true },
  jobs: { type: 'string', short: 'j' },
  debounce: { type: 'string' },
} as const;

export async function watchCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('watch', args, OPTIONS);
  if (values.help) {
    io.stdout(WATCH_HELP);
    return EXIT_OK;
  }
  if (positionals.length > 1) {
    throw new PipeError(`watch takes one experiment, got ${positionals.length} arguments`, {
      code: 'E_USAGE',
      hint: 'gpt2o-pipe watch [EXPERIMENT] [--set KEY=VALUE]...; to watch several, start one watch each',
    });
  }
  const entry = resolve(io.cwd, positionals[0] ?? defaultExperiment(io.cwd));
  // A missing file at start is a typo, not an edit in progress: fail as run does.
  if (!existsSync(entry)) {
    throw new PipeError(`cannot read spec file ${entry}: no such file`, {
      code: 'E_SPEC_NOT_FOUND',
      hint: 'check the path; experiments live in experiments/*.yaml',
    });
  }
  const changes = new ChangeBatch(parseDebounce(values.debounce));
  const session: WatchSession = {
    io,
    entry,
    sets: values.set,
    cache: values.cache,
    jobs: parseJobs(values.jobs, availableParallelism()),
    workers: parseWorkers(io.env, availableParallelism()),
    stagesDir: stageSourcesDir(),
    changes,
    files: new WatchedFiles(changes, (message) => io.stderr(`watch: ${message}\n`)),
    say: (line) => io.stdout(`watch: ${line}\n`),
  };
  try {
    await watchLoop(session);
  } finally {
    changes.dispose();
    await session.files.close();
  }
  session.say('stopped');
  return EXIT_INTERRUPTED;
}

/** What every cycle of one `watch` shares. */
interface WatchSession {
  io: CliIo;
  /** The experiment file, absolute. */
  entry: string;
  sets: string[] | undefined;
  cache: string | undefined;
  jobs: number;
  workers: number;
  /** stages/ of a source checkout, watched too; undefined when running from a build. */
  stagesDir: string | undefined;
  changes: ChangeBatch;
  files: WatchedFiles;
  say(line: string): void;
}

/** Runs a cycle, then one per settled burst of changes, until Ctrl-C. */
async function watchLoop(session: WatchSession): Promise<void> {
  const { io, changes, files, say, stagesDir } = session;
  for (let first = true; ; first = false) {
    if (!first) {
      await changes.settled(io.signal);
      if (io.signal.aborted) break;
      const changed = changes.take();
      say(`${describeChanges(changed, io.cwd)} changed; running`);
      if (stagesDir && changed.some((p) => isInside(p, stagesDir)))
        say(
          'built-in stages load once per process: restart watch (after npm run build) to use edited stage code',
        );
    }
    // A settled burst of changes, or Ctrl-C, stops the run in flight; the loop then starts anew.
    const run = new AbortController();
    const stop = () => run.abort();
    io.signal.addEventListener('abort', stop, { once: true });
    const unsubscribe = changes.onSettled(stop);
    if (io.signal.aborted) stop();
    try {
      await runCycle(session, run.signal);
    } finally {
      unsubscribe();
      io.signal.removeEventListener('abort', stop);
    }
    if (io.signal.aborted) break;
    say(
      run.signal.aborted
        ? 'files changed during the run: it stopped, a new one starts'
        : `waiting for changes to ${files.size} path${files.size === 1 ? '' : 's'} (Ctrl-C to stop)`,
    );
  }
}

/** One cycle: resolve the spec, update what is watched, run. Errors are printed, never thrown. */
async function runCycle(session: WatchSession, signal: AbortSignal): Promise<void> {
  const { io, entry, files, stagesDir } = session;
  let specFiles: string[] = [entry];
  try {
    specFiles = (await readSpecChain(entry)).map((f) => f.path);
    const workspace = await openWorkspace(io, entry, {
      sets: session.sets,
      cache: session.cache,
      write: true,
    });
    files.ignore([workspace.store.root, workspace.runsDir]);
    await files.set([...inputPaths(workspace.graph, specFiles), ...(stagesDir ? [stagesDir] : [])]);
    // An aborted signal from the start would not reach the scheduler's listeners: skip instead.
    if (signal.aborted) return;
    await runWorkspace(io, workspace, {
      targets: [],
      force: [],
      jobs: session.jobs,
      workers: session.workers,
      dryRun: false,
      keepGoing: false,
      json: false,
      signal,
      reportInterrupted: false,
    });
  } catch (error) {
    io.stderr(`${formatError(error, io.cwd)}\n`);
    // Keep watching what was watched, plus the spec files: fixing one of them is what comes next.
    await files.add(specFiles);
  }
}

function parseDebounce(value: string | undefined): number {
  if (value === undefined) return 300;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 0) {
    throw new PipeError(`--debounce must be a whole number of milliseconds, got "${value}"`, {
      code: 'E_USAGE',
      hint: 'for example --debounce 500',
    });
  }
  return ms;
}

/** `a.yaml`, `a.yaml and b.txt`, `a.yaml and 3 more`. */
function describeChanges(paths: string[], cwd: string): string {
  const shown = paths.map((p) => relative(cwd, p) || '.');
  if (shown.length <= 2) return shown.join(' and ');
  return `${shown[0]} and ${shown.length - 1} more`;
}

/**
 * Changed paths, debounced: a burst of events (an editor's save is often several) settles once no
 * event came for `ms`. Listeners hear each settled burst; take() hands it over and starts afresh.
 */
class ChangeBatch {
  private readonly paths = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private ready = false;

  constructor(private readonly ms: number) {}

  add(path: string): void {
    this.paths.add(path);
    this.ready = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.ready = true;
      for (const listener of [...this.listeners]) listener();
    }, this.ms);
  }

  onSettled(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when a burst has settled (at once if one has) or when `signal` aborts. */
  settled(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (this.ready || signal.aborted) return resolve();
      const done = () => {
        unsubscribe();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const unsubscribe = this.onSettled(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  take(): string[] {
    const paths = [...this.paths];
    this.paths.clear();
    this.ready = false;
    return paths;
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

/** The chokidar watcher and the set of paths it watches (files or folders, existing or not yet). */
class WatchedFiles {
  private watcher: FSWatcher | undefined;
  private watched = new Set<string>();
  private ignored: string[] = [];

  constructor(
    private readonly changes: ChangeBatch,
    private readonly warn: (message: string) => void,
  ) {}

  get size(): number {
    return this.watched.size;
  }

  /** Never report changes under these folders (the cache and runs/: a run writes there itself). */
  ignore(roots: string[]): void {
    this.ignored = roots;
  }

  /** Watches exactly `paths` from now on. */
  set(paths: Iterable<string>): Promise<void> {
    return this.update(new Set(paths));
  }

  /** Watches `paths` too. */
  add(paths: Iterable<string>): Promise<void> {
    return this.update(new Set([...this.watched, ...paths]));
  }

  private async update(next: Set<string>): Promise<void> {
    const added = [...next].filter((p) => !this.watched.has(p));
    const removed = [...this.watched].filter((p) => !next.has(p));
    this.watched = next;
    if (!this.watcher) {
      const { watch } = await import('chokidar');
      const watcher = watch(added, {
        ignoreInitial: true,
        ignored: (path: string) => this.ignored.some((root) => isInside(path, root)),
      });
      watcher.on('all', (event, path) => {
        this.changes.add(path);
        // NOTE: chokidar forgets a watched file once it is deleted, so a spec deleted and then
        // re-created (not an editor's quick atomic save) would go unheard. Watching the path
        // again makes chokidar wait for it to appear.
        if ((event === 'unlink' || event === 'unlinkDir') && this.watched.has(path)) this.rearm(path);
      });
      watcher.on('error', (error) => this.warn(`cannot watch: ${(error as Error).message ?? error}`));
      this.watcher = watcher;
      // Changes made before the first scan ends would be missed: the first run waits for it.
      await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
      return;
    }
    if (removed.length > 0) this.watcher.unwatch(removed);
    if (added.length > 0) this.watcher.add(added);
  }

  private rearm(path: string): void {
    this.watcher?.unwatch(path);
    this.watcher?.add(path);
  }

  async close(): Promise<void> {
    await this.watcher?.close();
  }
}
