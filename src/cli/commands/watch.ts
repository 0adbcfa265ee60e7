// `gpt2o-pipe watch [EXPERIMENT]`: run, then run again whenever a spec file, a dep or a built-in
// stage's source changes. Each cycle resolves the spec anew (so param edits count) and goes through
// the same code as `run`; the cache makes a rerun execute only the stages a change can affect.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { relative, resolve } from 'node:path';
import { EXIT_INTERRUPTED, EXIT_OK, PipeError } from '../../errors.ts';
import { readSpecChain } from '../../pipeline/chain.ts';
import { formatError } from '../../report/format-error.ts';
import type { StageResources } from '../../stage-api/index.ts';
import { defaultExperiment, parseCommandArgs, parseJobs, parseResources } from '../args.ts';
import type { CliIo } from '../io.ts';
import { inputPaths, isInside, stageSourcesDir } from '../watch-paths.ts';
import { ChangeBatch, WatchedFiles } from '../watched-files.ts';
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
      paths: [entry],
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
    resources: parseResources(io.env),
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
  resources: StageResources;
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
      resources: session.resources,
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
