// The process wrapper around runMain: real stdio, Ctrl-C handling, the built-in stage registry.
import { builtinStages } from '../../stages/index.ts';
import { EXIT_BROKEN_PIPE, EXIT_INTERRUPTED } from '../errors.ts';
import { watchOutputClosed } from './closed-output.ts';
import { runMain } from './main.ts';

const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts++;
  // First Ctrl-C: stop stages cleanly (nothing half-done is cached). Second: leave now.
  if (interrupts > 1) process.exit(EXIT_INTERRUPTED);
  process.stderr.write('\ninterrupted: stopping running stages (Ctrl-C again to quit at once)\n');
  controller.abort();
});
process.on('SIGTERM', () => controller.abort());

// A reader that goes away (`run | head -1`) stops the run the way Ctrl-C does.
const output = watchOutputClosed(controller);

// Not a top-level await: the bundle is CommonJS (scripts/build.mjs).
void (async () => {
  const code = await runMain(process.argv.slice(2), {
    stdout: output.stdout,
    stderr: output.stderr,
    cwd: process.cwd(),
    env: process.env,
    isTTY: process.stdout.isTTY === true && process.env.CI === undefined,
    registry: builtinStages,
    signal: controller.signal,
  });
  process.exitCode = output.closed() ? EXIT_BROKEN_PIPE : code;
})();
