// The CLI entry: `runMain(rawArgs, io)` dispatches to lazily imported subcommands and turns errors
// into messages and exit codes (0 ok, 1 stage failed, 2 spec/usage error). Tests call it in-process.
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, PipeError } from '../errors.ts';
import { errorJson, formatError } from '../report/format-error.ts';
import { TOOL_VERSION } from '../run/version.ts';
import { suggestionHint } from '../util/did-you-mean.ts';
import { compareCommand } from './commands/compare.ts';
import { dagCommand } from './commands/dag.ts';
import { gcCommand } from './commands/gc.ts';
import { logsCommand } from './commands/logs.ts';
import { runCommand } from './commands/run.ts';
import { statusCommand } from './commands/status.ts';
import { verifyCommand } from './commands/verify.ts';
import { watchCommand } from './commands/watch.ts';
import type { CliIo } from './io.ts';

export const MAIN_HELP = `gpt2o-pipe: a content-hashed DAG build system for machine-learning experiments

Usage: gpt2o-pipe <command> [options]

Commands:
  run [EXPERIMENT] [STAGE...]   run what is not cached (default experiments/demo.yaml or pipeline.yaml)
  status [EXPERIMENT...]        which stages are up to date, and why the others are not
  dag [EXPERIMENT]              the stage graph (--mermaid for a diagram)
  compare [EXPERIMENT...]       params and metrics of experiments side by side (--plot, --md, --html)
  watch [EXPERIMENT]            run, then run again whenever the spec or a dep changes
  logs [EXPERIMENT] STAGE       the full log of a stage's latest run
  gc                            drop cache entries no experiment's latest run references
  verify                        rehash the cache and check its records and trees (--repair)

Run \`gpt2o-pipe <command> --help\` for a command's options.
Exit codes: 0 ok, 1 a stage failed (verify: problems found), 2 a spec or usage error.
`;

type Command = (args: string[], io: CliIo) => Promise<number>;

// Commands are small and imported statically: on this machine every extra lazy chunk costs an
// event-loop round trip at start-up. What is heavy (yaml, execa, listr2, stage modules and their
// ML libraries) stays behind dynamic import() where it is used.
const COMMANDS: Record<string, Command> = {
  run: runCommand,
  status: statusCommand,
  dag: dagCommand,
  compare: compareCommand,
  watch: watchCommand,
  logs: logsCommand,
  gc: gcCommand,
  verify: verifyCommand,
};

export async function runMain(rawArgs: string[], io: CliIo): Promise<number> {
  const [name, ...args] = rawArgs;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(MAIN_HELP);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`${TOOL_VERSION}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(
      `${formatError(new PipeError(`unknown command "${name}"`, { code: 'E_USAGE', hint: suggestionHint(name, Object.keys(COMMANDS), 'commands') }), io.cwd)}\n`,
    );
    return EXIT_USAGE;
  }
  try {
    return await command(args, io);
  } catch (error) {
    io.stderr(`${formatError(error, io.cwd)}\n`);
    // A script asked for JSON: it gets JSON for a spec or usage error too, not an empty stdout.
    if (wantsJson(args)) io.stdout(`${errorJson(error, io.cwd)}\n`);
    return error instanceof PipeError ? error.exitCode : EXIT_INTERNAL;
  }
}

/** `--json` among a command's options (not after a `--`). */
function wantsJson(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}
