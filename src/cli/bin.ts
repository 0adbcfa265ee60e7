// The process wrapper around runMain: real stdio, Ctrl-C handling, the built-in stage registry.
import { builtinStages } from '../../stages/index.ts';
import { runMain } from './main.ts';

const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts++;
  // First Ctrl-C: stop stages cleanly (nothing half-done is cached). Second: leave now.
  if (interrupts > 1) process.exit(130);
  process.stderr.write('\ninterrupted: stopping running stages (Ctrl-C again to quit at once)\n');
  controller.abort();
});
process.on('SIGTERM', () => controller.abort());

const code = await runMain(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
  env: process.env,
  isTTY: process.stdout.isTTY === true && process.env.CI === undefined,
  registry: builtinStages,
  signal: controller.signal,
});
process.exitCode = code;
