// The gradient engine on worker threads (one replica each, a single-threaded tfjs backend): the
// messages to and from grad-worker.ts, and the pool that hands sequences to whichever worker is
// free while the sums stay in sequence order (gradients.ts's Accumulator).
import type { Worker } from 'node:worker_threads';
import { listen, startWorker } from '../lib/workers.ts';
import type { BackendChoice } from './backend.ts';
import type { GptConfig } from './config.ts';
import { parameterShapes } from './gpt.ts';
import {
  Accumulator,
  type GradientEngine,
  type GradientResult,
  Interrupted,
  type Sequence,
  type SequenceGradients,
} from './gradients.ts';
import type { NamedTensor } from './safetensors.ts';

/** Messages to a gradient worker. */
export type WorkerRequest =
  | {
      type: 'init';
      backend: BackendChoice;
      config: GptConfig;
      weights: { shape: number[]; data: Float32Array }[];
    }
  | { type: 'weights'; weights: Float32Array[] }
  | { type: 'gradients'; index: number; ids: Int32Array; targets: Int32Array; scale: number }
  | { type: 'loss'; index: number; ids: Int32Array; targets: Int32Array };

/** Replies from a gradient worker. */
export type WorkerReply =
  | { type: 'ready' }
  | ({ type: 'gradients'; index: number } & SequenceGradients)
  | { type: 'loss'; index: number; loss: number }
  | { type: 'error'; message: string; stack?: string };

/** Replicas on worker threads; sequences go to whichever worker is free, sums stay in order. */
export class WorkerGradients implements GradientEngine {
  private constructor(
    private readonly workers: Worker[],
    private readonly config: GptConfig,
    readonly description: string,
  ) {}

  /** Parameter names in the order arrays travel to and from the workers. */
  private get names(): string[] {
    return parameterShapes(this.config).map(([name]) => name);
  }

  static async start(
    count: number,
    backend: BackendChoice,
    config: GptConfig,
    weights: ReadonlyMap<string, NamedTensor>,
  ): Promise<WorkerGradients> {
    const workers = Array.from({ length: count }, () => startWorker(import.meta.url, 'grad-worker'));
    const init: WorkerRequest = {
      type: 'init',
      backend,
      config,
      weights: parameterShapes(config).map(([name]) => weights.get(name)!),
    };
    try {
      await Promise.all(
        workers.map(async (w) => {
          w.postMessage(init);
          await nextReply(w, `${workers.indexOf(w) + 1} of ${count} (starting)`);
        }),
      );
      return new WorkerGradients(workers, config, `${count} worker thread${count === 1 ? '' : 's'}`);
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
  }

  private broadcast(weights: ReadonlyMap<string, NamedTensor>): void {
    const arrays = this.names.map((name) => weights.get(name)!.data);
    for (const w of this.workers) w.postMessage({ type: 'weights', weights: arrays } satisfies WorkerRequest);
  }

  async gradients(
    weights: ReadonlyMap<string, NamedTensor>,
    sequences: Sequence[],
    scale: number,
    signal?: AbortSignal,
  ): Promise<GradientResult> {
    this.broadcast(weights);
    const sum = new Accumulator(this.config);
    // Results may arrive out of order; add them in sequence order.
    const pending = new Map<number, SequenceGradients>();
    let nextToAdd = 0;
    await this.schedule(
      sequences,
      signal,
      (index, ids, targets) => ({ type: 'gradients', index, ids, targets, scale }),
      (reply) => {
        if (reply.type !== 'gradients') return;
        pending.set(reply.index, reply);
        for (let part = pending.get(nextToAdd); part; part = pending.get(nextToAdd)) {
          pending.delete(nextToAdd++);
          sum.add(part);
        }
      },
    );
    return sum.result();
  }

  async loss(weights: ReadonlyMap<string, NamedTensor>, sequences: Sequence[]): Promise<number> {
    this.broadcast(weights);
    const losses = new Float64Array(sequences.length);
    await this.schedule(
      sequences,
      undefined,
      (index, ids, targets) => ({ type: 'loss', index, ids, targets }),
      (reply) => {
        if (reply.type === 'loss') losses[reply.index] = reply.loss;
      },
    );
    return losses.reduce((a, b) => a + b, 0) / sequences.length;
  }

  /** Hands out sequences one at a time to free workers until all have answered. */
  private schedule(
    sequences: Sequence[],
    signal: AbortSignal | undefined,
    request: (index: number, ids: Int32Array, targets: Int32Array) => WorkerRequest,
    onReply: (reply: WorkerReply) => void,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      let next = 0;
      let done = 0;
      let failed = false;
      const cleanups: (() => void)[] = [];
      const finish = (error?: Error) => {
        for (const cleanup of cleanups) cleanup();
        if (error) reject(error);
        else resolve();
      };
      const feed = (w: Worker) => {
        if (failed) return;
        if (signal?.aborted) {
          failed = true;
          // Workers may still be busy; their late replies are ignored (listeners are removed).
          finish(new Interrupted());
          return;
        }
        if (next < sequences.length) {
          const s = sequences[next]!;
          w.postMessage(request(next++, s.ids, s.targets));
        }
      };
      this.workers.forEach((w, k) => {
        const onMessage = (reply: WorkerReply) => {
          if (failed) return;
          if (reply.type === 'error') {
            failed = true;
            finish(Object.assign(new Error(reply.message), { stack: reply.stack }));
            return;
          }
          onReply(reply);
          if (++done === sequences.length) finish();
          else feed(w);
        };
        // An 'error' event or an exit without one (process.exit, a native crash) fails the step.
        const onFailure = (error: Error) => {
          if (failed) return;
          failed = true;
          finish(error);
        };
        cleanups.push(listen(w, `${k + 1} of ${this.workers.length} (gradients)`, onMessage, onFailure));
      });
      if (sequences.length === 0) finish();
      else for (const w of this.workers) feed(w);
    });
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function nextReply(w: Worker, what: string): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const stop = listen<WorkerReply>(
      w,
      what,
      (reply) => {
        stop();
        if (reply.type === 'error') reject(Object.assign(new Error(reply.message), { stack: reply.stack }));
        else resolve(reply);
      },
      reject,
    );
  });
}
