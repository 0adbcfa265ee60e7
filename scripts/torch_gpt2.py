#!/usr/bin/python3
"""Independent PyTorch GPT-2 for gpt2o-pipe: test-only and bench-only.

Not used by the pipeline. It exists to (1) cross-check the TensorFlow.js GPT-2
checkpoints that gpt2o-pipe writes (model.safetensors + config.json, Hugging
Face GPT-2 names and Conv1D [in, out] layout) by recomputing validation loss,
and (2) serve as the PyTorch peer in training-speed benchmarks.

Model: nanoGPT / build-nanogpt style GPT-2: learned position embeddings,
pre-LayerNorm blocks (eps from config, default 1e-5), causal self-attention
with a fused c_attn [q, k, v], tanh-approximate GELU MLP (4x), final ln_f,
lm_head tied to wte, biases everywhere, no dropout.

Run with Debian's torch: /usr/bin/python3 scripts/torch_gpt2.py --help
  val-loss    --checkpoint DIR --tokens A.npy [B.npy ...] --context T [--max-tokens N] [--threads K]
  train-bench --config A|B --steps N [--threads K]
  train-curve --checkpoint DIR --batches S.npy --steps N --accumulation K --micro-batch B --context T
              [--max-lr --min-lr --warmup --max-steps --weight-decay --grad-clip] [--threads K]
              trains from a checkpoint on given sequences; prints each step's loss and grad norm
  blas-info   --size N [--threads K]   the BLAS torch uses (library, kernel) and its fp32 matmul GFLOP/s

For a fair peer, pin OpenBLAS's kernel for this process only: Debian's OpenBLAS 0.3.21 does not
recognise recent Xeons and runs its generic one (OPENBLAS_CORETYPE=SkylakeX on AVX-512 CPUs).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np

# Debian torch = libgomp + pthread OpenBLAS: spinning OpenMP workers starve the BLAS
# threads (2 threads ran 3-5x slower than 1 on a 2-core box). Must precede `import torch`.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn as nn
import torch.nn.functional as F


class Conv1D(nn.Module):
    """HF GPT-2 'Conv1D': a Linear whose weight is stored [in, out]; y = x @ W + b."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.size(-1)), self.weight).view(*x.shape[:-1], -1)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        assert n_embd % n_head == 0
        self.n_head = n_head
        self.c_attn = Conv1D(n_embd, 3 * n_embd)
        self.c_proj = Conv1D(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = Conv1D(n_embd, 4 * n_embd)
        self.c_proj = Conv1D(4 * n_embd, n_embd)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=eps)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd, eps=eps)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    def __init__(self, vocab_size, n_positions, n_embd, n_layer, n_head, layer_norm_epsilon=1e-5):
        super().__init__()
        self.n_positions = n_positions
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(n_positions, n_embd),
            h=nn.ModuleList(Block(n_embd, n_head, layer_norm_epsilon) for _ in range(n_layer)),
            ln_f=nn.LayerNorm(n_embd, eps=layer_norm_epsilon),
        ))
        # Init (build-nanogpt): N(0, 0.02), residual c_proj scaled by (2*n_layer)^-0.5.
        for name, p in self.named_parameters():
            if name.endswith(".bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name or name.startswith("transformer.ln_f"):
                nn.init.ones_(p)
            else:
                std = 0.02 * (2 * n_layer) ** -0.5 if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, mean=0.0, std=std)

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg["vocab_size"], cfg["n_positions"], cfg["n_embd"], cfg["n_layer"],
                   cfg["n_head"], cfg.get("layer_norm_epsilon", 1e-5))

    def forward(self, idx):
        B, T = idx.shape
        assert T <= self.n_positions, f"sequence length {T} > n_positions {self.n_positions}"
        tr = self.transformer
        x = tr.wte(idx) + tr.wpe(torch.arange(T, device=idx.device))
        for block in tr.h:
            x = block(x)
        return tr.ln_f(x) @ tr.wte.weight.t()  # lm_head tied to wte


_ST_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16}


def read_safetensors(path):
    """Parse safetensors by hand: u64-LE header length, JSON header, raw LE data."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _ST_DTYPES:
            raise ValueError(f"{name}: unsupported dtype {info['dtype']}")
        dt = np.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<")
        start, end = info["data_offsets"]
        arr = np.frombuffer(data[start:end], dtype=dt).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32))
    return out


def load_checkpoint(ckpt_dir):
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        cfg = json.load(f)
    model = GPT2.from_config(cfg)
    sd = read_safetensors(os.path.join(ckpt_dir, "model.safetensors"))
    lm_head = sd.pop("lm_head.weight", None)
    if lm_head is not None and not torch.equal(lm_head, sd["transformer.wte.weight"]):
        print("warning: lm_head.weight differs from wte; using tied wte", file=sys.stderr)
    for k in [k for k in sd if k.endswith((".attn.bias", ".attn.masked_bias"))]:
        sd.pop(k)  # HF causal-mask buffers, not parameters
    own = model.state_dict()
    for k, v in sd.items():
        if k in own and own[k].shape != v.shape:
            raise ValueError(f"{k}: checkpoint shape {tuple(v.shape)} != model {tuple(own[k].shape)}")
    model.load_state_dict(sd, strict=True)
    return model.eval(), cfg


@torch.no_grad()
def val_loss(model, tokens, T, batch=8):
    """Non-overlapping windows of length T (last may be shorter); token-weighted mean CE."""
    S = torch.from_numpy(tokens.astype(np.int64))
    starts = list(range(0, max(len(S) - 1, 0), T))
    total, count = 0.0, 0
    full = [s for s in starts if s + T + 1 <= len(S)]
    rest = [s for s in starts if s + T + 1 > len(S)]
    groups = [full[i:i + batch] for i in range(0, len(full), batch)] + [[s] for s in rest]
    for g in groups:
        n = min(T, len(S) - 1 - g[0])
        x = torch.stack([S[s:s + n] for s in g])
        y = torch.stack([S[s + 1:s + n + 1] for s in g])
        logits = model(x).double()  # float32 logits, float64 CE and accumulation
        total += F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1), reduction="sum").item()
        count += y.numel()
    return total / count, count, len(starts)


def cmd_val_loss(a):
    torch.set_num_threads(a.threads)
    model, cfg = load_checkpoint(a.checkpoint)
    toks = np.concatenate([np.load(p).astype(np.uint16, copy=False).reshape(-1) for p in a.tokens])
    if a.max_tokens is not None:
        toks = toks[:a.max_tokens]
    if len(toks) < 2:
        sys.exit("need at least 2 tokens")
    if int(toks.max()) >= cfg["vocab_size"]:
        sys.exit(f"token id {int(toks.max())} >= vocab_size {cfg['vocab_size']}")
    loss, n, w = val_loss(model, toks, a.context)
    print(json.dumps({"loss": loss, "perplexity": math.exp(loss), "tokens": n, "windows": w}))


BENCH = {  # n_layer, n_head, n_embd, context, vocab, micro-batch
    "A": dict(n_layer=4, n_head=4, n_embd=256, n_positions=512, vocab_size=4104, batch=4),
    "B": dict(n_layer=2, n_head=2, n_embd=128, n_positions=256, vocab_size=4104, batch=8),
    # The GPT-2-small shape at context 1024 (issue 14).
    "C": dict(n_layer=12, n_head=12, n_embd=768, n_positions=1024, vocab_size=4160, batch=1),
}


def cmd_train_bench(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(1337)
    c = BENCH[a.config]
    B, T = c["batch"], c["n_positions"]
    model = GPT2(c["vocab_size"], T, c["n_embd"], c["n_layer"], c["n_head"]).train()
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=6e-4, betas=(0.9, 0.95), eps=1e-8)
    data = torch.from_numpy(np.random.default_rng(1337).integers(
        0, c["vocab_size"], size=(a.steps + 1, B, T + 1), dtype=np.uint16).astype(np.int64))

    def step(i):
        x, y = data[i, :, :-1], data[i, :, 1:]
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    step(0)  # warm-up
    t0 = time.perf_counter()
    for i in range(1, a.steps + 1):
        step(i)
    dt = time.perf_counter() - t0
    print(json.dumps({"config": a.config, "threads": a.threads,
                      "tokens_per_sec": B * T * a.steps / dt, "step_ms": 1000 * dt / a.steps,
                      "params": sum(p.numel() for p in params)}))


def learning_rate(step, max_lr, min_lr, warmup, max_steps):
    """build-nanogpt's get_lr: linear warmup, then cosine decay to min_lr at max_steps."""
    if step < warmup:
        return max_lr * (step + 1) / warmup
    if step >= max_steps:
        return min_lr
    ratio = (step - warmup) / max(1, max_steps - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)


def cmd_train_curve(a):
    """build-nanogpt's training loop from a checkpoint, on the sequences of --batches in order.

    --batches: uint16 .npy, flat, steps x accumulation x micro-batch rows of context+1 tokens
    (row r: inputs r[:-1], targets r[1:]), so both engines read the very same batches.
    """
    torch.set_num_threads(a.threads)
    model, _ = load_checkpoint(a.checkpoint)
    model.train()
    B, T, K = a.micro_batch, a.context, a.accumulation
    rows = np.load(a.batches).astype(np.int64).reshape(-1, T + 1)
    if len(rows) < a.steps * K * B:
        sys.exit(f"{a.batches}: {len(rows)} rows, {a.steps} steps need {a.steps * K * B}")
    data = torch.from_numpy(rows[:a.steps * K * B]).view(a.steps, K, B, T + 1)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": a.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.max_lr, betas=(0.9, 0.95), eps=1e-8)
    lines = []
    for step in range(a.steps):
        loss_accum = 0.0
        for micro in range(K):
            x, y = data[step, micro, :, :-1], data[step, micro, :, 1:]
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1)) / K
            loss_accum += loss.item()
            loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip if a.grad_clip > 0 else float("inf")).item()
        lr = learning_rate(step, a.max_lr, a.min_lr, a.warmup, a.max_steps)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        opt.zero_grad(set_to_none=True)
        lines.append({"step": step, "loss": loss_accum, "lr": lr, "grad_norm": norm})
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "steps": lines}))


def loaded_blas():
    """The BLAS shared library this process loaded, and (for OpenBLAS) its config and kernel name."""
    import ctypes
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "blas" in line.rsplit("/", 1)[-1]})
    for path in paths:
        lib = ctypes.CDLL(path)
        if hasattr(lib, "openblas_get_corename"):
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return {"library": path, "config": lib.openblas_get_config().decode(),
                    "kernel": lib.openblas_get_corename().decode()}
    return {"library": paths[0] if paths else None, "config": None, "kernel": None}


def cmd_blas_info(a):
    torch.set_num_threads(a.threads)
    n = a.size
    x, y = torch.randn(n, n), torch.randn(n, n)
    torch.mm(x, y)  # warm-up, and loads the BLAS
    reps, best = 5, float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(x, y)
        best = min(best, time.perf_counter() - t0)
    info = loaded_blas()
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "size": n,
                      "gflops": 2 * n ** 3 / best / 1e9,
                      "coretype_env": os.environ.get("OPENBLAS_CORETYPE"), **info}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("val-loss", help="validation loss of a safetensors checkpoint")
    v.add_argument("--checkpoint", required=True, help="dir with model.safetensors + config.json")
    v.add_argument("--tokens", required=True, nargs="+", help="uint16 .npy files, concatenated in order")
    v.add_argument("--context", type=int, required=True)
    v.add_argument("--max-tokens", type=int, default=None)
    v.add_argument("--threads", type=int, default=1)
    v.set_defaults(fn=cmd_val_loss)
    b = sub.add_parser("train-bench", help="training-step throughput")
    b.add_argument("--config", choices=sorted(BENCH), required=True)
    b.add_argument("--steps", type=int, required=True)
    b.add_argument("--threads", type=int, default=1)
    b.set_defaults(fn=cmd_train_bench)
    c = sub.add_parser("train-curve", help="each step's loss training from a checkpoint on given batches")
    c.add_argument("--checkpoint", required=True, help="dir with model.safetensors + config.json")
    c.add_argument("--batches", required=True, help="uint16 .npy: the steps' sequences of context+1 tokens")
    c.add_argument("--steps", type=int, required=True)
    c.add_argument("--accumulation", type=int, required=True, help="micro-batches per step")
    c.add_argument("--micro-batch", type=int, required=True)
    c.add_argument("--context", type=int, required=True)
    c.add_argument("--max-lr", type=float, default=6e-4)
    c.add_argument("--min-lr", type=float, default=6e-5)
    c.add_argument("--warmup", type=int, default=10)
    c.add_argument("--max-steps", type=int, default=None, help="the schedule's length (default: --steps)")
    c.add_argument("--weight-decay", type=float, default=0.1)
    c.add_argument("--grad-clip", type=float, default=1.0)
    c.add_argument("--threads", type=int, default=1)
    c.set_defaults(fn=cmd_train_curve)
    m = sub.add_parser("blas-info", help="the BLAS in use and its fp32 matmul speed")
    m.add_argument("--size", type=int, default=1024)
    m.add_argument("--threads", type=int, default=1)
    m.set_defaults(fn=cmd_blas_info)
    a = ap.parse_args(argv)
    if getattr(a, "max_steps", 0) is None:
        a.max_steps = a.steps
    a.fn(a)


if __name__ == "__main__":
    main()
