// How much memory one training step on ONNX Runtime's CPU provider takes, estimated before the
// run starts so that a micro-batch that cannot fit is refused with the one that does, instead of
// the machine swapping or the kernel killing the run hours in. The model: the parameters' copies
// (master weights, AdamW moments, gradients out of the graph and their sum) plus, per sequence of
// the micro-batch, the activations the backward pass keeps (attention probabilities nh·T² and
// the T·C-sized values of each layer) and the loss head's T·V values. The coefficients are fitted
// to peak RSS measured on onnxruntime-node 1.30 (README "Backends"; bench/train-worker.ts prints
// VmHWM): one step of the original model (12 layers, 768 wide, context 2048, vocab 16384) peaked at
// 5.9 GiB with micro-batch 1 and 10.3 GiB with 2, so each sequence adds 4.4 GiB and micro-batch 8
// needs about 37 GiB. Smaller configs (1-2 layers, context 1024-2048, vocab 4160-16384) fix the
// split between the terms; 10% headroom on top, so the estimate errs on the side of refusing.
import { type GptConfig, parameterCount } from '../config.ts';

const FLOAT = 4;
/** Bytes outside the model: node, onnxruntime, the graph, the loader. */
const BASE = 256 * 2 ** 20;
/** Float copies of each parameter that live through a step. */
const PARAM_COPIES = 4;
/** Per layer and sequence: floats per attention probability (nh·T²) and per activation (T·C). */
const PER_SCORE = 1;
const PER_ACTIVATION = 21;
/** Per sequence, outside the layers: per nh·T² (the attention backward's transients), per T·C, per logit (T·V). */
const TRANSIENT_SCORES = 1;
const SEQUENCE_ACTIVATION = 85;
const PER_LOGIT = 0.35;
/** Headroom over the fit (allocator growth, the OS). */
const MARGIN = 1.1;

/** Estimated peak bytes of one training step with `microBatch` sequences of T tokens per run. */
export function estimateStepBytes(c: GptConfig, microBatch: number, T = c.blockSize): number {
  const scores = c.nHead * T * T;
  const activations = T * c.nEmbd;
  const perSequence =
    c.nLayer * (PER_SCORE * scores + PER_ACTIVATION * activations) +
    TRANSIENT_SCORES * scores +
    SEQUENCE_ACTIVATION * activations +
    PER_LOGIT * T * c.vocabSize;
  return MARGIN * (BASE + FLOAT * (PARAM_COPIES * parameterCount(c) + microBatch * perSequence));
}

/**
 * The largest micro-batch that fits in `budget` bytes and divides `sequencesPerStep` (so that
 * accumulation still takes whole micro-batches); 0 when not even one sequence fits.
 */
export function fittingMicroBatch(
  c: GptConfig,
  sequencesPerStep: number,
  budget: number,
  T = c.blockSize,
): number {
  let best = 0;
  for (let mb = 1; mb <= sequencesPerStep; mb++)
    if (sequencesPerStep % mb === 0 && estimateStepBytes(c, mb, T) <= budget) best = mb;
  return best;
}
