// A gradient worker thread: one tfjs backend and one model replica; computes the loss and gradients
// of single sequences for WorkerGradients (gradients.ts) with the weights it was last sent.
import { parentPort } from 'node:worker_threads';
import { loadBackend } from './backend.ts';
import { Gpt, parameterShapes } from './gpt.ts';
import { sequenceGradients, sequenceLoss } from './gradients.ts';
import type { NamedTensor } from './safetensors.ts';
import type { WorkerReply, WorkerRequest } from './worker-gradients.ts';

let model: Gpt | undefined;
// Test only (test/unit/model-train.test.ts): GPT2O_TEST_WORKER_EXIT_AT=N makes the worker end with
// process.exit(3) at its Nth gradients request, as a crash would: no 'error' event, only 'exit'.
const exitAt = Number(process.env.GPT2O_TEST_WORKER_EXIT_AT) || 0;
let gradientRequests = 0;
const port = parentPort!;
const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

port.on('message', async (request: WorkerRequest) => {
  try {
    if (request.type === 'init') {
      const backend = await loadBackend(request.backend);
      const names = parameterShapes(request.config).map(([name]) => name);
      const weights = new Map<string, NamedTensor>(names.map((name, k) => [name, request.weights[k]!]));
      model = new Gpt(backend.tf, request.config, weights);
      reply({ type: 'ready' });
    } else if (request.type === 'weights') {
      const names = [...model!.params.keys()];
      model!.setWeights(new Map(names.map((name, k) => [name, { data: request.weights[k]! }])));
    } else if (request.type === 'gradients') {
      if (++gradientRequests === exitAt) process.exit(3);
      const part = sequenceGradients(model!, request, request.scale);
      reply(
        { type: 'gradients', index: request.index, ...part },
        part.grads.map((g) => g.buffer as ArrayBuffer),
      );
    } else {
      reply({ type: 'loss', index: request.index, loss: sequenceLoss(model!, request) });
    }
  } catch (error) {
    reply({ type: 'error', message: (error as Error).message, stack: (error as Error).stack });
  }
});
