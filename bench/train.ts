// Section 6: training throughput (tokens/s) of the GPT-2 per available TensorFlow.js backend on the
// issue's configs A and B, side by side with the same model in PyTorch on the CPU
// (scripts/torch_gpt2.py) when /usr/bin/python3 has torch, at its best: the OpenBLAS kernel and the
// thread count are chosen by measurement (bench/torch-peer.ts); plus sampling speed with and without
// the KV cache. Each measurement runs in its own process (tfjs has one backend per process).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type Check, grade, ratio } from './checks.ts';
import { setUpTorchPeer, type TorchPeer, torchTrain } from './torch-peer.ts';

const WORKER = fileURLToPath(new URL('./train-worker.ts', import.meta.url));
/** The wasm backend must reach this share of PyTorch's CPU speed on config A. */
export const WASM_VS_TORCH_TARGET = 0.5;
/** onnxruntime must match PyTorch's CPU speed on config A (issue 14; the next target is 1.5). */
export const ORT_VS_TORCH_TARGET = 1.0;
/** Sampling with the KV cache on onnxruntime vs on wasm, config B (issue 14). */
export const ORT_SAMPLING_VS_WASM_TARGET = 5;

export interface TrainRow {
  config: 'A' | 'B' | 'C';
  /** tfjs backend name, or "pytorch (N threads)". */
  runtime: string;
  detail: string;
  tokensPerSec: number | null;
  /** ours / PyTorch at its best (the better thread count), same config. */
  vsTorch: number | null;
  note: string | null;
}

export interface TrainResult {
  /** The PyTorch peer's kernel and how it was chosen; null when torch is not installed. */
  torchPeer: TorchPeer | null;
  /** Per config, the thread count of PyTorch's best figure (the reference of `vsTorch`). */
  torchThreads: Record<string, number | null>;
  rows: TrainRow[];
  /** Per backend (wasm, onnxruntime); a failed one is left out. */
  sampling: SamplingRow[];
}

export interface SamplingRow {
  backend: string;
  detail: string;
  cachedTokensPerSec: number;
  uncachedTokensPerSec: number;
}

function worker(args: string[]): Record<string, unknown> | null {
  const r = spawnSync(process.execPath, ['--import', 'tsx', WORKER, ...args], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

export function benchTrain(options: { small: boolean }, log: (line: string) => void): TrainResult {
  const rows: TrainRow[] = [];
  const torchPeer = setUpTorchPeer(log);
  const torchThreads: Record<string, number | null> = {};
  for (const config of ['A', 'B', 'C'] as const) {
    // C (GPT-2 small at context 1024) takes seconds per step: 2 timed steps, as the issue says.
    const steps = config === 'C' ? (options.small ? 1 : 2) : options.small ? 1 : 3;
    log(`train: PyTorch config ${config}, 1 and 2 threads`);
    const torchFigures = torchPeer ? torchTrain(torchPeer, config, steps) : null;
    const torchBest = torchFigures?.best?.tokensPerSec ?? null;
    torchThreads[config] = torchFigures?.best?.threads ?? null;
    const cores = availableParallelism();
    const backends: { name: string; workers: number; skip?: string }[] = [
      {
        name: 'tensorflow-gpu',
        workers: 1,
        skip: installed('@tensorflow/tfjs-node-gpu') ? undefined : 'not installed',
      },
      {
        name: 'tensorflow',
        workers: 1,
        skip: installed('@tensorflow/tfjs-node') ? undefined : 'not installed',
      },
      // Config C on wasm would take minutes per step; only onnxruntime and PyTorch run it.
      { name: 'wasm', workers: 1, skip: config === 'C' ? 'too slow for config C' : undefined },
      // What `train` uses by default: one gradient worker per core.
      ...(cores > 1 && config !== 'C' ? [{ name: 'wasm', workers: cores }] : []),
      // The step as ONNX graphs on ONNX Runtime's CPU provider (train.backend: onnxruntime).
      { name: 'onnxruntime', workers: 1 },
      // The plain JS backend runs at about 1 GFLOP/s: config A would take minutes per step.
      {
        name: 'cpu',
        workers: 1,
        skip: config !== 'B' ? `too slow for config ${config} (≈1 GFLOP/s)` : undefined,
      },
    ];
    for (const b of backends) {
      if (b.skip) {
        rows.push({ config, runtime: b.name, detail: '', tokensPerSec: null, vsTorch: null, note: b.skip });
        continue;
      }
      log(`train: ${b.name} config ${config}, ${b.workers} worker(s)`);
      const r = worker(['train', b.name, config, String(b.name === 'cpu' ? 1 : steps), String(b.workers)]);
      const tps = (r?.tokensPerSec as number | undefined) ?? null;
      rows.push({
        config,
        runtime: b.name,
        detail: (r?.detail as string | undefined) ?? '',
        tokensPerSec: tps,
        vsTorch: ratio(tps, torchBest),
        note: r ? null : 'failed to start',
      });
    }
    // How fast training on wasm could be if nothing but its matrix products took time.
    log(`train: wasm config ${config}, the products alone`);
    const bound = config === 'C' ? null : worker(['products', 'wasm', config, String(cores)]);
    const boundTps = (bound?.tokensPerSec as number | undefined) ?? null;
    rows.push({
      config,
      runtime: 'wasm, products alone',
      detail: bound
        ? `a bound: ${(bound.sequenceMs as number).toFixed(0)} ms per sequence at ${(bound.gflops as number).toFixed(1)} GFLOP/s, × ${cores} workers`
        : '',
      tokensPerSec: boundTps,
      vsTorch: ratio(boundTps, torchBest),
      note: bound ? null : config === 'C' ? 'not measured for C' : 'failed to start',
    });
    const torchNote = torchPeer === null ? '/usr/bin/python3 with torch not installed' : 'failed';
    for (const threads of [1, 2]) {
      const tps = torchFigures?.byThreads.get(threads) ?? null;
      const best = torchThreads[config] === threads;
      rows.push({
        config,
        runtime: `pytorch (${threads} thread${threads > 1 ? 's' : ''})`,
        detail: best ? 'the reference' : '',
        tokensPerSec: tps,
        vsTorch: null,
        note: tps === null ? torchNote : null,
      });
    }
  }
  const sampling: SamplingRow[] = [];
  for (const backend of ['wasm', 'onnxruntime']) {
    log(`train: sampling with and without the KV cache on ${backend}`);
    const s = worker(['sample', backend, options.small ? '64' : '192']);
    if (s)
      sampling.push({
        backend,
        detail: s.detail as string,
        cachedTokensPerSec: s.cached as number,
        uncachedTokensPerSec: s.uncached as number,
      });
  }
  return { torchPeer, torchThreads, rows, sampling };
}

export function trainChecks(r: TrainResult): Check[] {
  // The best wasm row of config A (the one `train` uses by default: a worker per core).
  const wasmA = r.rows
    .filter((row) => row.config === 'A' && row.runtime === 'wasm' && row.vsTorch !== null)
    .sort((a, b) => b.vsTorch! - a.vsTorch!)[0];
  const ort = (config: string) =>
    r.rows.find((row) => row.config === config && row.runtime === 'onnxruntime');
  const wasmSampling = r.sampling.find((s) => s.backend === 'wasm');
  const ortSampling = r.sampling.find((s) => s.backend === 'onnxruntime');
  return [
    ...(['A', 'C'] as const).map((config) =>
      grade(
        {
          id: `train.onnxruntime_vs_pytorch_config_${config.toLowerCase()}`,
          label: `onnxruntime training vs PyTorch CPU, ${config}`,
          op: '>=',
          target: ORT_VS_TORCH_TARGET,
          unit: 'x',
        },
        ort(config)?.vsTorch ?? null,
        'PyTorch not installed',
      ),
    ),
    grade(
      {
        id: 'train.wasm_vs_pytorch_config_a',
        label: 'wasm training vs PyTorch CPU, A',
        op: '>=',
        target: WASM_VS_TORCH_TARGET,
        unit: 'x',
      },
      wasmA?.vsTorch ?? null,
      'PyTorch not installed',
    ),
    grade(
      {
        id: 'sample.kv_cache_speedup',
        label: 'sampling speed-up of the KV cache',
        op: '>=',
        target: 2,
        unit: 'x',
      },
      wasmSampling ? wasmSampling.cachedTokensPerSec / wasmSampling.uncachedTokensPerSec : null,
    ),
    grade(
      {
        id: 'sample.onnxruntime_vs_wasm',
        label: 'sampling with the KV cache, onnxruntime vs wasm',
        op: '>=',
        target: ORT_SAMPLING_VS_WASM_TARGET,
        unit: 'x',
      },
      ortSampling && wasmSampling ? ortSampling.cachedTokensPerSec / wasmSampling.cachedTokensPerSec : null,
    ),
  ];
}
