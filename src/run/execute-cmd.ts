// Runs one `cmd:` stage in a private scratch folder: deps and upstream outputs are linked in at
// their relative paths, the command runs through sh, and only the declared outs are collected.
import { lstat, mkdir, readdir, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { EXIT_STAGE_FAILED, PipeError } from '../errors.ts';
import type { Graph } from '../graph/build.ts';
import type { CmdStage } from '../spec/types.ts';
import type { StageLog } from './stage-log.ts';

export interface CmdRunInput {
  stage: CmdStage;
  graph: Graph;
  scratch: string;
  /** Upstream stage name → materialized output folder. */
  upstreamDirs: ReadonlyMap<string, string>;
  log: StageLog;
  signal: AbortSignal;
}

/** Runs the command; resolves with warnings, rejects with a PipeError naming the stage. */
export async function runCmdStage(input: CmdRunInput): Promise<{ warnings: string[] }> {
  const { stage, scratch } = input;
  const linked = await linkInputs(input);
  await runShell(input);
  await checkOuts(stage, scratch);
  const stray = await findStrayFiles(
    scratch,
    linked,
    stage.outs.map((o) => o.path),
  );
  const warnings = stray.length
    ? [
        `wrote files outside its declared outs (not kept): ${stray.slice(0, 5).join(', ')}${stray.length > 5 ? ` and ${stray.length - 5} more` : ''}`,
      ]
    : [];
  return { warnings };
}

async function linkInputs({ stage, graph, scratch, upstreamDirs }: CmdRunInput): Promise<Set<string>> {
  const linked = new Set<string>();
  const place = async (rel: string, target: string) => {
    const at = join(scratch, rel);
    await mkdir(dirname(at), { recursive: true });
    await symlink(target, at);
    linked.add(rel);
  };
  // Like Snakemake, create the folders declared outs go into, so `cmd > out/x.txt` just works.
  for (const out of stage.outs) await mkdir(dirname(join(scratch, out.path)), { recursive: true });
  const produced = new Set((graph.producedDeps.get(stage.name) ?? []).map((p) => p.dep));
  for (const dep of stage.deps) {
    if (!produced.has(dep.path)) await place(dep.path, join(graph.spec.projectRoot, dep.path));
  }
  for (const [name, dir] of upstreamDirs) {
    const upstream = graph.stages.get(name)!;
    if (upstream.kind === 'cmd') {
      for (const out of upstream.outs) await place(out.path, join(dir, out.path));
    } else {
      // A built-in stage's output has no declared paths; it appears as a folder named after the stage.
      await place(name, dir);
    }
  }
  return linked;
}

async function runShell({ stage, scratch, graph, log, signal }: CmdRunInput): Promise<void> {
  const { execa } = await import('execa');
  log.line(`$ ${stage.cmd}`);
  for (const [name, value] of Object.entries(stage.env)) log.line(`#   ${name}=${JSON.stringify(value)}`);
  const child = execa('sh', ['-c', stage.cmd], {
    cwd: scratch,
    // Param values travel only here, never in the shell source (spec/cmd-env.ts).
    env: { ...stage.env, GPT2O_STAGE: stage.name, GPT2O_EXPERIMENT: graph.spec.experiment },
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
    // Own process group, so cancellation reaches everything the shell started.
    detached: true,
  });
  child.all?.setEncoding('utf8');
  child.all?.on('data', (chunk: string) => log.write(chunk));
  const kill = () => killGroup(child.pid);
  signal.addEventListener('abort', kill, { once: true });
  const result = await child;
  signal.removeEventListener('abort', kill);
  if (signal.aborted) {
    throw new PipeError(`stage "${stage.name}" was interrupted`, {
      code: 'E_INTERRUPTED',
      stage: stage.name,
      exitCode: 130,
    });
  }
  if (result.failed) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    throw new PipeError(`stage "${stage.name}": command ${how}`, {
      code: 'E_STAGE_COMMAND',
      stage: stage.name,
      loc: stage.loc,
      exitCode: EXIT_STAGE_FAILED,
    });
  }
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  const send = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  send('SIGTERM');
  setTimeout(() => send('SIGKILL'), 3000).unref();
}

async function checkOuts(stage: CmdStage, scratch: string): Promise<void> {
  const missing: string[] = [];
  for (const out of stage.outs) {
    if (!(await lstat(join(scratch, out.path)).catch(() => undefined))) missing.push(out.path);
  }
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
async function findStrayFiles(scratch: string, linked: Set<string>, outs: string[]): Promise<string[]> {
  const stray: string[] = [];
  const walk = async (rel: string) => {
    for (const entry of await readdir(join(scratch, rel), { withFileTypes: true })) {
      const path = rel ? posix.join(rel, entry.name) : entry.name;
      if (linked.has(path) || outs.some((o) => path === o || path.startsWith(`${o}/`))) continue;
      if (entry.isDirectory()) await walk(path);
      else stray.push(path);
    }
  };
  await walk('');
  return stray.sort();
}
