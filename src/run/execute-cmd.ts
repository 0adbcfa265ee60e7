// Runs one `cmd:` stage in a private scratch folder: deps and upstream outputs are linked in at
// their relative paths, the command runs through sh, and only the declared outs are collected.
// The inputs are stat'ed before and after, so a command that wrote through them fails (see
// input-guard.ts).
import { lstatSync, readdirSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { depPath } from '../cache/key.ts';
import { EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import type { CmdStage } from '../pipeline/types.ts';
import { printable } from '../util/printable.ts';
import type { StageResult, StageRun } from './execute-stage.ts';
import {
  findInputChanges,
  type GuardedInput,
  type InputChange,
  quarantineChanged,
  snapshotInputs,
} from './input-guard.ts';
import { runShell } from './run-shell.ts';

/** Runs the command; resolves with its outs and warnings, rejects with a PipeError naming the stage. */
export async function executeCmd(input: StageRun<CmdStage>): Promise<StageResult> {
  const { stage, scratch, graph, log, signal } = input;
  const { linked, guarded } = await linkInputs(input);
  const snapshot = await snapshotInputs(guarded);
  let failure: unknown;
  try {
    log.line(`$ ${stage.cmd}`);
    for (const [name, value] of Object.entries(stage.env)) log.line(`#   ${name}=${JSON.stringify(value)}`);
    await runShell({
      stage: stage.name,
      loc: stage.loc,
      cmd: stage.cmd,
      cwd: scratch,
      // Param values travel only here, never in the shell source (pipeline/cmd-env.ts).
      env: { ...process.env, ...stage.env, GPT2O_STAGE: stage.name, GPT2O_EXPERIMENT: graph.spec.experiment },
      log,
      signal,
      scriptPath: `${scratch}.sh`,
    });
  } catch (error) {
    failure = error;
  }
  // Checked even when the command failed: what it wrote through is damaged either way.
  const changes = await findInputChanges(snapshot);
  if (changes.length > 0) {
    const quarantined = await quarantineChanged(input.store, snapshot, changes);
    throw inputChangedError(stage, changes, quarantined.length);
  }
  if (failure !== undefined) throw failure;
  checkOuts(stage, scratch);
  const stray = findStrayFiles(
    scratch,
    linked,
    stage.outs.map((o) => o.path),
  );
  const warnings = stray.length
    ? [
        `wrote files outside its declared outs (not kept): ${stray.slice(0, 5).map(printable).join(', ')}${stray.length > 5 ? ` and ${stray.length - 5} more` : ''}`,
      ]
    : [];
  return { outs: stage.outs.map((o) => o.path), metrics: {}, warnings };
}

/**
 * Links deps and upstream outputs into the scratch folder. An upstream bound by its own name
 * (`needs: [a]`, or a dep that is its out) shows a cmd stage's outs at their paths and a built-in
 * stage's output as a folder named after it; one bound to another slot name (`needs: {in: a}`)
 * appears as a folder named after the slot.
 */
async function linkInputs(run: StageRun<CmdStage>) {
  const { stage, scratch } = run;
  const clash = (rel: string) =>
    new PipeError(`stage "${stage.name}": two of its inputs or outs claim the path "${rel}"`, {
      code: 'E_STAGE_INPUT_CLASH',
      stage: stage.name,
      loc: stage.loc,
      hint: 'give the upstream a slot name (needs: {slot: stage}) or move one of the paths',
      exitCode: EXIT_STAGE_FAILED,
    });
  const link = (input: GuardedInput) =>
    symlink(input.absolute, join(scratch, input.shown)).catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'EEXIST' ? clash(input.shown) : error;
    });
  // Like Snakemake, create the folders declared outs go into, so `cmd > out/x.txt` just works.
  for (const out of stage.outs)
    if (posix.dirname(out.path) !== '.') await mkdir(dirname(join(scratch, out.path)), { recursive: true });
  const guarded = inputsToLink(run);
  if (guarded.every((input) => !input.shown.includes('/'))) {
    // All at the top (a join of many upstream outputs): linked at once, not one round trip each.
    const seen = new Set<string>();
    for (const { shown } of guarded) {
      if (seen.has(shown)) throw clash(shown);
      seen.add(shown);
    }
    // Every link settles before the first failure (in input order) is thrown: none is made later.
    const results = await Promise.allSettled(guarded.map(link));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } else {
    // In order: a folder made for one path must not be taken for (or be) a link made for another.
    for (const input of guarded) {
      await mkdir(dirname(join(scratch, input.shown)), { recursive: true });
      await link(input);
    }
  }
  return { linked: new Set(guarded.map((input) => input.shown)), guarded };
}

/** The deps and upstream outputs a cmd stage sees, by their paths in its scratch folder. */
function inputsToLink({ stage, graph, store, inputs }: StageRun<CmdStage>): GuardedInput[] {
  const guarded: GuardedInput[] = [];
  const place = (rel: string, target: string, tree?: GuardedInput['tree']) => {
    guarded.push({ shown: rel, absolute: target, tree });
  };
  const produced = new Set((graph.producedDeps.get(stage.name) ?? []).map((p) => p.dep));
  for (const dep of stage.deps) {
    if (!produced.has(dep.path)) place(dep.path, depPath(graph, dep.path));
  }
  for (const { slot, stage: name, tree, dir } of inputs) {
    const upstream = graph.stages.get(name);
    if (!upstream)
      throw new Error(`internal: slot "${slot}" of "${stage.name}" names unknown stage "${name}"`);
    const manifest = store.readManifest(tree);
    const filesUnder = (prefix: string) =>
      new Map(
        manifest.files.flatMap((f): [string, string][] => {
          if (prefix === '' || f.path === prefix) return [[prefix === '' ? f.path : '', f.digest]];
          return f.path.startsWith(`${prefix}/`) ? [[f.path.slice(prefix.length + 1), f.digest]] : [];
        }),
      );
    const folder = slot === name ? '' : slot;
    if (upstream.kind === 'cmd') {
      for (const out of upstream.outs)
        place(posix.join(folder, out.path), join(dir, out.path), {
          digest: tree,
          dir,
          files: filesUnder(out.path),
        });
    } else {
      // A built-in stage's output has no declared paths; it appears as a folder.
      place(slot, dir, { digest: tree, dir, files: filesUnder('') });
    }
  }
  return guarded;
}

function inputChangedError(stage: CmdStage, changes: readonly InputChange[], quarantined: number): PipeError {
  const first = changes[0]!;
  const more =
    changes.length > 1 ? ` (and ${changes.length - 1} more change${changes.length > 2 ? 's' : ''})` : '';
  const list = changes
    .slice(0, 5)
    .map((c) => `${JSON.stringify(c.path)} ${c.what}`)
    .join('; ');
  return new PipeError(
    `stage "${stage.name}" changed an input it was given: ${JSON.stringify(first.path)} ${first.what}${more}`,
    {
      code: 'E_STAGE_WROTE_INPUT',
      stage: stage.name,
      loc: stage.loc,
      hint:
        `a command must only read its deps and upstream outputs${changes.length > 1 ? ` (${list})` : ''}. ` +
        (quarantined > 0
          ? `${quarantined} damaged cache object${quarantined > 1 ? 's were' : ' was'} moved to cache/quarantine/ and will be recomputed; `
          : '') +
        'check your project files, and write results to new paths listed in outs:',
      exitCode: EXIT_STAGE_FAILED,
    },
  );
}

function checkOuts(stage: CmdStage, scratch: string): void {
  // NOTE: synchronous, as findStrayFiles: one quick call each, where a promise costs a round trip
  // through libuv's thread pool that holds up every other stage's work on this thread.
  const missing = stage.outs
    .filter((out) => !lstatSync(join(scratch, out.path), { throwIfNoEntry: false }))
    .map((out) => out.path);
  if (missing.length > 0) {
    throw new PipeError(
      `stage "${stage.name}" did not write its declared out${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}`,
      {
        code: 'E_STAGE_MISSING_OUT',
        stage: stage.name,
        loc: stage.outs.find((o) => o.path === missing[0])?.loc,
        hint: 'make the command write exactly the paths listed in outs: (relative to its working folder)',
        exitCode: EXIT_STAGE_FAILED,
      },
    );
  }
}

/** Files the command wrote that are neither outs nor inputs: reported, never cached. */
function findStrayFiles(scratch: string, linked: Set<string>, outs: string[]): string[] {
  const stray: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(scratch, rel), { withFileTypes: true })) {
      const path = rel ? posix.join(rel, entry.name) : entry.name;
      if (linked.has(path) || outs.some((o) => path === o || path.startsWith(`${o}/`))) continue;
      if (entry.isDirectory()) walk(path);
      else stray.push(path);
    }
  };
  walk('');
  return stray.sort();
}
