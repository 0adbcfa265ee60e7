// The model's shape (nanoGPT's GPTConfig) and its Hugging Face GPT2Config form (config.json), so a
// checkpoint loads with `GPT2LMHeadModel.from_pretrained(dir)` without conversion.

export interface GptConfig {
  vocabSize: number;
  /** Longest sequence (HF n_positions); the training context length. */
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
}

/** `vocab` rounded up to a multiple of `multiple` (nanoGPT pads 50257 to 50304 for faster kernels). */
export function padVocab(vocab: number, multiple: number): number {
  return Math.ceil(vocab / multiple) * multiple;
}

export function parameterCount(c: GptConfig): number {
  const perLayer = 2 * 2 * c.nEmbd + (c.nEmbd * 3 * c.nEmbd + 3 * c.nEmbd) + (c.nEmbd * c.nEmbd + c.nEmbd);
  const mlp = c.nEmbd * 4 * c.nEmbd + 4 * c.nEmbd + 4 * c.nEmbd * c.nEmbd + c.nEmbd;
  return c.vocabSize * c.nEmbd + c.blockSize * c.nEmbd + c.nLayer * (perLayer + mlp) + 2 * c.nEmbd;
}

export function toHfConfig(c: GptConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_positions: c.blockSize,
    n_ctx: c.blockSize,
    n_embd: c.nEmbd,
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_inner: null,
    activation_function: 'gelu_new',
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    scale_attn_weights: true,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    ...extra,
  };
}

export function fromHfConfig(json: Record<string, unknown>): GptConfig {
  const need = (key: string): number => {
    const value = json[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)
      throw new Error(`config.json: "${key}" should be a positive integer, got ${JSON.stringify(value)}`);
    return value;
  };
  return {
    vocabSize: need('vocab_size'),
    blockSize: need('n_positions'),
    nLayer: need('n_layer'),
    nHead: need('n_head'),
    nEmbd: need('n_embd'),
  };
}
