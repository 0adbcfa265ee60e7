// A trained GPT on ONNX Runtime for `evaluate` and `sample`: each target's loss from the
// forward-only graph of gpt-graph.ts (weights fed as inputs, one session per window length), and
// a Decoder for generate.ts on the KV-cache graph of kv-graph.ts (weights baked in; past and
// present keys/values are its inputs and outputs, so a token after the prompt is one position).
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Device } from '../backend.ts';
import type { GptConfig } from '../config.ts';
import type { Decoder } from '../generate.ts';
import { parameterShapes } from '../gpt.ts';
import type { NamedTensor } from '../safetensors.ts';
import { buildGptGraph } from './gpt-graph.ts';
import { buildKvGraph, pastKey, pastValue, presentKey, presentValue } from './kv-graph.ts';
import { createSession, loadOrt, type Ort, ortThreads } from './ort-session.ts';

export interface OrtModelOptions {
  device: Device;
  threads?: number;
}

export class OrtModel {
  readonly description: string;
  private readonly lossSessions = new Map<number, Promise<InferenceSession>>();
  private kvSession: Promise<InferenceSession> | undefined;
  private readonly threads: number;

  private constructor(
    private readonly ort: Ort,
    readonly config: GptConfig,
    private readonly weights: ReadonlyMap<string, NamedTensor>,
    private readonly options: OrtModelOptions,
  ) {
    this.threads = ortThreads(options.threads);
    this.description = `onnxruntime ${ort.env.versions.common} ${options.device}, ${this.threads} thread${this.threads === 1 ? '' : 's'}`;
  }

  static async start(
    config: GptConfig,
    weights: ReadonlyMap<string, NamedTensor>,
    options: OrtModelOptions,
  ): Promise<OrtModel> {
    return new OrtModel(await loadOrt(options.device), config, weights, options);
  }

  /** The loss of each target [B·T] (row-major), predicting targets from ids (both B rows of T). */
  async tokenLosses(ids: Int32Array, targets: Int32Array, B: number, T: number): Promise<Float32Array> {
    const { ort } = this;
    let session = this.lossSessions.get(T);
    if (!session) {
      session = createSession(
        ort,
        buildGptGraph(this.config, { T, backward: false }),
        this.options.device,
        this.threads,
        false,
      );
      this.lossSessions.set(T, session);
    }
    const feeds: Record<string, Tensor> = {
      ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [B, T]),
      targets: new ort.Tensor('int64', BigInt64Array.from(targets, BigInt), [B, T]),
    };
    for (const [name, shape] of parameterShapes(this.config))
      feeds[name] = new ort.Tensor('float32', this.weights.get(name)!.data, shape);
    const out = await (await session).run(feeds, ['token_losses']);
    return out.token_losses!.data as Float32Array;
  }

  /** A sampling Decoder with its own KV cache. */
  decoder(): Decoder {
    this.kvSession ??= createSession(
      this.ort,
      buildKvGraph(this.config, this.weights),
      this.options.device,
      this.threads,
      false,
    );
    return new OrtDecoder(this.ort, this.config, this.kvSession);
  }

  async dispose(): Promise<void> {
    const sessions = [...this.lossSessions.values(), ...(this.kvSession ? [this.kvSession] : [])];
    for (const session of sessions) await (await session.catch(() => undefined))?.release();
    this.lossSessions.clear();
    this.kvSession = undefined;
  }
}

class OrtDecoder implements Decoder {
  /** present.* of the last cached run; undefined: nothing cached. */
  private past: Record<string, Tensor> | undefined;
  private pastLength = 0;

  constructor(
    private readonly ort: Ort,
    readonly config: GptConfig,
    private readonly session: Promise<InferenceSession>,
  ) {}

  async lastLogits(ids: Int32Array, B: number, T: number, cached: boolean): Promise<Float32Array> {
    const { ort, config } = this;
    const P = cached ? this.pastLength : 0;
    if (P + T > config.blockSize)
      throw new RangeError(`sequence of ${P + T} tokens is longer than the context (${config.blockSize})`);
    const total = P + T;
    // New position t (absolute P+t) sees positions 0..P+t.
    const mask = new Float32Array(T * total);
    for (let t = 0; t < T; t++) for (let j = P + t + 1; j < total; j++) mask[t * total + j] = -1e9;
    const feeds: Record<string, Tensor> = {
      ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [B, T]),
      positions: new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: T }, (_, t) => BigInt(P + t)),
        [T],
      ),
      mask: new ort.Tensor('float32', mask, [T, total]),
    };
    const hs = config.nEmbd / config.nHead;
    const empty = new ort.Tensor('float32', new Float32Array(0), [B, config.nHead, 0, hs]);
    for (let i = 0; i < config.nLayer; i++) {
      feeds[pastKey(i)] = (P && this.past?.[presentKey(i)]) || empty;
      feeds[pastValue(i)] = (P && this.past?.[presentValue(i)]) || empty;
    }
    const out = await (await this.session).run(feeds);
    if (cached) {
      this.past = out;
      this.pastLength = total;
    }
    return out.logits!.data as Float32Array;
  }

  resetCache(): void {
    this.past = undefined;
    this.pastLength = 0;
  }
}
