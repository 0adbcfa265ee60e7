// The CLI entry: `runMain(rawArgs, io)` dispatches to lazily imported subcommands and turns errors
// into messages and exit codes (0 ok, 1 stage failed, 2 spec/usage error). Tests call it in-process.
import { EXIT_OK, EXIT_USAGE, PipeError } from '../errors.ts';
import { formatError } from '../report/format-error.ts';
import { setDisplayRoot } from '../spec/yaml-file.ts';
import type { CliIo } from './io.ts';

export const MAIN_HELP = `gpt2o-pipe: a content-hashed DAG build system for machine-learning experiments

Usage: gpt2o-pipe <command> [options]

Commands:
  run [EXPERIMENT] [STAGE...]   run what is not cached (default experiments/demo.yaml or pipeline.yaml)
  status [EXPERIMENT...]        which stages are up to date, and why the others are not
  dag [EXPERIMENT]              the stage graph (--mermaid for a diagram)
  gc                            drop cache entries no experiment's latest run references

Run \`gpt2o-pipe <command> --help\` for a command's options.
Exit codes: 0 ok, 1 a stage failed, 2 a spec or usage error.
`;

type Command = (args: string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands/run.ts')).runCommand,
  status: async () => (await import('./commands/status.ts')).statusCommand,
  dag: async () => (await import('./commands/dag.ts')).dagCommand,
  gc: async () => (await import('./commands/gc.ts')).gcCommand,
};

export async function runMain(rawArgs: string[], io: CliIo): Promise<number> {
  const [name, ...args] = rawArgs;
  setDisplayRoot(io.cwd);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(MAIN_HELP);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`${(await import('../run/version.ts')).TOOL_VERSION}\n`);
    return EXIT_OK;
  }
  const load = COMMANDS[name];
  if (!load) {
    const { suggestionHint } = await import('../util/did-you-mean.ts');
    io.stderr(
      `${formatError(new PipeError(`unknown command "${name}"`, { code: 'E_USAGE', hint: suggestionHint(name, Object.keys(COMMANDS), 'commands') }))}\n`,
    );
    return EXIT_USAGE;
  }
  try {
    return await (await load())(args, io);
  } catch (error) {
    io.stderr(`${formatError(error)}\n`);
    return error instanceof PipeError ? error.exitCode : 70;
  }
}
