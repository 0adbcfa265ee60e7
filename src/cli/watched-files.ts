// What `watch` listens with: the chokidar watcher over the paths a cycle reads (WatchedFiles), and
// the debounced batch of paths that changed (ChangeBatch).
import type { FSWatcher } from 'chokidar';
import { isInside } from './watch-paths.ts';

/**
 * Changed paths, debounced: a burst of events (an editor's save is often several) settles once no
 * event came for `ms`. Listeners hear each settled burst; take() hands it over and starts afresh.
 */
export class ChangeBatch {
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
export class WatchedFiles {
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
