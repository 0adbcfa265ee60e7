// `run`, answered from its no-op journal (src/run/noop-journal.ts): when the same command, in the
// same folder, with the same build and environment, was fully cached before and nothing it rested
// on has changed since, it prints what that run printed (the same lines, the same --json), without
// parsing the spec or keying a stage. Otherwise the ordinary run goes ahead, and remembers itself
// when it turns out fully cached.
//
// GPT2O_NOOP_JOURNAL=off turns journals off; =DIR keeps them there. They live in this user's cache
// folder, never in the cache they describe: as the memo of validated files, a journal vouches for
// what this user's own run checked (validated-files.ts says why that matters for a shared cache).
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { StatKey } from '../../cache/stat-cache.ts';
import { CacheStore } from '../../cache/store.ts';
import type { StageOutcome } from '../../run/events.ts';
import { collectEvidence, look, type ServedRun } from '../../run/noop-evidence.ts';
import {
  decodeJournal,
  encodeJournal,
  firstChange,
  journalName,
  type NoopJournal,
  racyEvidence,
} from '../../run/noop-journal.ts';
import { buildId } from '../../util/build-id.ts';
import { replaceFileSync } from '../../util/file-ops.ts';
import { userCacheDir } from '../../util/user-cache.ts';
import type { CliIo } from '../io.ts';
import { openReporter, reportOutcomes, sayHeader, saySummary } from './run-report.ts';
import { markRun, type RunRequest } from './run-request.ts';

/**
 * The environment variables that can change what a fully cached run answers: the cache it looks
 * in. (The resources a stage may use are checked before a journal is read, and a served stage
 * uses none; the memos' folders only speed a run up.)
 */
const ENV_READ = ['GPT2O_CACHE'] as const;
/** Journals kept per user; the oldest go first. */
const MAX_JOURNALS = 64;

/** This run's journal: its file, when the run began (see racyEvidence), and who hears why. */
export interface JournalTarget {
  file: string;
  since: number;
  /** GPT2O_NOOP_JOURNAL_REPORT=1: one line on stderr on what became of the journal. */
  tell(line: string): void;
}

/**
 * Undefined when journals are off, or this is not a built bundle (buildId). `specFile`: the spec
 * the command line resolved to (with no EXPERIMENT, which file that is depends on which exist).
 */
export function journalTarget(
  io: CliIo,
  command: { args: readonly string[]; specFile: string; since: number },
): JournalTarget | undefined {
  const build = buildId();
  const dir = userCacheDir(io.env, 'GPT2O_NOOP_JOURNAL', 'noop');
  if (build === undefined || dir === undefined) return undefined;
  const env: Record<string, string> = {};
  for (const name of ENV_READ) if (io.env[name] !== undefined) env[name] = io.env[name];
  const args = [resolve(io.cwd, command.specFile), ...command.args];
  const report = io.env.GPT2O_NOOP_JOURNAL_REPORT;
  return {
    file: join(dir, `${journalName({ build, cwd: io.cwd, args, env })}.txt`),
    since: command.since,
    tell: report ? (line) => io.stderr(`gpt2o-pipe: no-op journal ${line}\n`) : () => undefined,
  };
}

/**
 * Prints the journaled run and returns its exit code, or returns undefined (having printed
 * nothing) when there is no journal or something it rested on changed. The run registers in the
 * cache first, as any run does, so no gc can start between the check and the answer.
 */
export async function replayNoop(
  io: CliIo,
  target: JournalTarget,
  request: RunRequest,
): Promise<number | undefined> {
  const journal = readJournal(target.file);
  if (!journal) {
    target.tell('absent');
    return undefined;
  }
  const started = Date.now();
  const store = CacheStore.open(journal.cacheRoot, { create: true });
  store.assertWritable();
  const unmark = await markRun(io, store, request);
  try {
    const changed = firstChange(journal.evidence, statNow);
    if (changed !== undefined) {
      target.tell(`stale: ${changed} changed`);
      return undefined;
    }
    target.tell('used');
    const selected = journal.stages.map((s) => s.name);
    sayHeader(io, request, journal, selected);
    const { reporter, lines } = await openReporter(io, request, selected);
    const outcomes = new Map(
      journal.stages.map((s): [string, StageOutcome] => [
        s.name,
        { name: s.name, status: 'cached', key: s.key, seconds: 0, tree: s.tree },
      ]),
    );
    for (const name of journal.ended)
      reporter.event({ type: 'stage-end', stage: name, outcome: outcomes.get(name)! });
    await reporter.finish();
    lines.flush();
    const list = [...outcomes.values()];
    saySummary(io, request, list, started);
    return reportOutcomes(io, request, journal, list);
  } finally {
    unmark();
  }
}

/**
 * Journals a run that ended with every selected stage served from the cache, unless something it
 * rested on changed while it ran; any other run removes the journal it would have used.
 */
export function rememberNoop(
  target: JournalTarget,
  run: Omit<ServedRun, 'served'>,
  selected: readonly string[],
  outcomes: ReadonlyMap<string, StageOutcome>,
  ended: readonly string[],
): void {
  const journal = journalOf(target, run, selected, outcomes, ended);
  try {
    if (typeof journal === 'string') {
      target.tell(`not written: ${journal}`);
      rmSync(target.file, { force: true });
      return;
    }
    mkdirSync(join(target.file, '..'), { recursive: true });
    replaceFileSync(target.file, journal.text);
    target.tell(`written (${journal.paths} paths)`);
    pruneJournals(join(target.file, '..'));
  } catch (error) {
    // An accelerator: a journal that cannot be written or removed is dropped (a stale one is
    // still checked path by path before it is believed).
    target.tell(`not written: ${(error as Error).message}`);
  }
}

/** The journal's text, or why there is none. */
function journalOf(
  target: JournalTarget,
  run: Omit<ServedRun, 'served'>,
  selected: readonly string[],
  outcomes: ReadonlyMap<string, StageOutcome>,
  ended: readonly string[],
): { text: string; paths: number } | string {
  const list = selected.map((name) => outcomes.get(name)!);
  const notServed = list.find((o) => o.status !== 'cached' || !o.key || !o.tree);
  if (notServed) return `stage "${notServed.name}" ${notServed.status}`;
  const served = list.map((o) => ({ name: o.name, key: o.key!, tree: o.tree! }));
  const evidence = collectEvidence({ ...run, served });
  if (typeof evidence === 'string') return evidence;
  const racy = racyEvidence(evidence, target.since);
  if (racy !== undefined) return `${racy} changed during the run or just before it`;
  const { spec } = run.graph;
  const text = encodeJournal({
    experiment: spec.experiment,
    specFile: spec.specFile,
    cacheRoot: run.store.root,
    stages: served,
    ended: [...ended],
    evidence,
  });
  return text === undefined ? 'a path holds a line break' : { text, paths: evidence.length };
}

function readJournal(file: string): NoopJournal | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return decodeJournal(text);
}

/** A path's stat now; one that cannot be looked at never matches (a size no file has). */
function statNow(path: string, follow: boolean): StatKey | undefined {
  try {
    return look(path, follow);
  } catch {
    return { size: -1, mtimeMs: 0, ctimeMs: 0, ino: 0 };
  }
}

/** Keeps the newest MAX_JOURNALS journals in `dir` (one is written per distinct command line). */
function pruneJournals(dir: string): void {
  const names = readdirSync(dir).filter((name) => name.endsWith('.txt'));
  if (names.length <= MAX_JOURNALS) return;
  const byAge = names
    .map((name) => ({
      path: join(dir, name),
      mtime: statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? 0,
    }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { path } of byAge.slice(MAX_JOURNALS)) rmSync(path, { force: true });
}
