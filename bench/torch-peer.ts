// The PyTorch peer at its best. Debian's OpenBLAS 0.3.21 may not recognise a recent CPU and then
// runs its generic kernel (`Prescott`: about a quarter of the speed on AVX-512 machines), so the
// kernel is chosen from the CPU's flags, pinned with OPENBLAS_CORETYPE for the peer's processes only
// (never for our code or the tests), and checked by timing a 1024³ fp32 matmul against what
// OpenBLAS picked by itself: the faster one is used. The thread count is chosen per config by
// training with 1 and with 2 threads; the better one is the reference.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TORCH = fileURLToPath(new URL('../scripts/torch_gpt2.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

/** OpenBLAS kernels that mean "generic x86-64": slow on any CPU with AVX2 or AVX-512. */
const GENERIC_KERNELS = new Set(['prescott', 'core2', 'penryn', 'dunnington', 'nehalem', 'atom']);

export interface BlasProbe {
  torch: string;
  library: string | null;
  config: string | null;
  kernel: string | null;
  coretypeEnv: string | null;
  gflops: number;
}

export interface TorchPeer {
  /** OPENBLAS_CORETYPE for the peer's processes; null when the detected kernel was as fast. */
  coretype: string | null;
  /** What OpenBLAS picked by itself, and with the pin (null when no pin applies). */
  detected: BlasProbe;
  pinned: BlasProbe | null;
  /** The probe that the peer runs with. */
  chosen: BlasProbe;
  /** Visible warnings: the peer is not at its best. */
  warnings: string[];
}

/** OPENBLAS_CORETYPE for this CPU: SkylakeX with AVX-512, Haswell with AVX2, none otherwise. */
export function coretypeForFlags(flags: ReadonlySet<string>): string | null {
  if (flags.has('avx512f')) return 'SkylakeX';
  if (flags.has('avx2')) return 'Haswell';
  return null;
}

function cpuFlags(): Set<string> {
  try {
    const line = /^flags\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
    return new Set(line.split(/\s+/));
  } catch {
    return new Set();
  }
}

/**
 * Environment for a PyTorch process with `threads` threads (OpenMP and OpenBLAS alike) and the
 * given kernel pin. Our environment may carry a pin from the shell: the peer decides for itself.
 */
function peerEnv(coretype: string | null, threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMP_NUM_THREADS: String(threads),
    OPENBLAS_NUM_THREADS: String(threads),
  };
  delete env.OPENBLAS_CORETYPE;
  return coretype ? { ...env, OPENBLAS_CORETYPE: coretype } : env;
}

function runTorch(args: string[], env: NodeJS.ProcessEnv): Record<string, unknown> | null {
  const r = spawnSync(PYTHON, [TORCH, ...args], { encoding: 'utf8', env });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

function probe(coretype: string | null): BlasProbe | null {
  const r = runTorch(['blas-info', '--size', '1024', '--threads', '1'], peerEnv(coretype, 1));
  if (!r) return null;
  return {
    torch: r.torch as string,
    library: (r.library as string | null) ?? null,
    config: (r.config as string | null) ?? null,
    kernel: (r.kernel as string | null) ?? null,
    coretypeEnv: (r.coretype_env as string | null) ?? null,
    gflops: r.gflops as number,
  };
}

function faster(a: BlasProbe | null, b: BlasProbe | null): BlasProbe | null {
  if (!a || !b) return a ?? b;
  return b.gflops > a.gflops ? b : a;
}

/** Finds the PyTorch peer's best kernel; null when /usr/bin/python3 cannot import torch. */
export function setUpTorchPeer(log: (line: string) => void): TorchPeer | null {
  const flags = cpuFlags();
  const coretype = coretypeForFlags(flags);
  // Interleaved rounds, the best of each kept: one probe alone is at the mercy of a busy moment.
  let detected: BlasProbe | null = null;
  let pinned: BlasProbe | null = null;
  for (let round = 0; round < 3; round++) {
    log(`train: PyTorch peer, 1024³ matmul with the detected kernel${coretype ? ` and ${coretype}` : ''}`);
    detected = faster(detected, probe(null));
    if (!detected) return null;
    if (coretype) pinned = faster(pinned, probe(coretype));
  }
  if (!detected) return null;
  const usePin = pinned !== null && pinned.gflops > detected.gflops;
  const chosen = usePin ? pinned! : detected;
  const warnings: string[] = [];
  const vector = flags.has('avx512f') ? 'AVX-512' : flags.has('avx2') ? 'AVX2' : null;
  if (vector && chosen.kernel && GENERIC_KERNELS.has(chosen.kernel.toLowerCase()))
    warnings.push(
      `PyTorch's OpenBLAS runs its generic kernel (${chosen.kernel}) on a CPU with ${vector}: its figures are below its best`,
    );
  if (!chosen.kernel)
    warnings.push(
      `PyTorch's BLAS is not OpenBLAS (${chosen.library ?? 'unknown'}): its kernel was not checked`,
    );
  return { coretype: usePin ? coretype : null, detected, pinned, chosen, warnings };
}

export interface TorchTrainFigure {
  tokensPerSec: number;
  threads: number;
}

/** Training tokens/s of a config with 1 and with 2 threads; the best is the reference. */
export function torchTrain(
  peer: TorchPeer,
  config: string,
  steps: number,
): { best: TorchTrainFigure | null; byThreads: Map<number, number | null> } {
  const byThreads = new Map<number, number | null>();
  for (const threads of [1, 2]) {
    const r = runTorch(
      ['train-bench', '--config', config, '--steps', String(steps), '--threads', String(threads)],
      peerEnv(peer.coretype, threads),
    );
    byThreads.set(threads, r ? (r.tokens_per_sec as number) : null);
  }
  let best: TorchTrainFigure | null = null;
  for (const [threads, tps] of byThreads)
    if (tps !== null && (best === null || tps > best.tokensPerSec)) best = { tokensPerSec: tps, threads };
  return { best, byThreads };
}

/** One line for the report's header. */
export function describeTorchPeer(peer: TorchPeer): string {
  const k = (p: BlasProbe) => `${p.kernel ?? 'unknown kernel'} ${p.gflops.toFixed(0)} GFLOP/s`;
  const pin = peer.chosen.coretypeEnv ? `OPENBLAS_CORETYPE=${peer.chosen.coretypeEnv}` : 'no pin';
  const other = peer.pinned
    ? peer.chosen === peer.pinned
      ? `; as detected: ${k(peer.detected)}`
      : `; pinned ${peer.pinned.coretypeEnv}: ${k(peer.pinned)} (slower, not used)`
    : '';
  const version = /OpenBLAS [\d.]+/.exec(peer.chosen.config ?? '')?.[0] ?? peer.chosen.library ?? 'BLAS';
  return `torch ${peer.chosen.torch}, ${version}, kernel ${k(peer.chosen)} on a 1024³ fp32 matmul, 1 thread (${pin}${other})`;
}
