// What a command needs from the outside world, injectable so tests drive the CLI in-process.
import type { StageRegistry } from '../stage-api/index.ts';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  cwd: string;
  env: NodeJS.ProcessEnv;
  isTTY: boolean;
  registry: StageRegistry;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
}
