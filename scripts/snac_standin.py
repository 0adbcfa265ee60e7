#!/usr/bin/env python3
"""A stand-in for SNAC 24 kHz: the same architecture and size, random weights, exported to ONNX
with the tensor contract of onnx-community/snac_24khz-ONNX. It measures what the real codec costs
(codec, tokenize and sample speed, chunk_seconds) without downloading it; its codes and audio mean
nothing. Written from SNAC's published description (hubertsiuzdak/snac, config of snac_24khz):

  sampling rate 24000, encoder dim 48, encoder rates 2·4·8·8 (hop 512), latent 768,
  decoder dim 1024, decoder rates 8·8·4·2, no attention window, depthwise convolutions,
  noise blocks in the decoder, residual VQ with strides 4:2:1, codebook 4096 of dim 8.

Contract (what `codec` checks):
  encoder: input_values float32 [batch, 1, samples], padded inside the graph to a multiple of
           2048 (hop × the largest VQ stride) → audio_codes.0/1/2 int64 [batch, n], [batch, 2n], [batch, 4n]
  decoder: audio_codes.0/1/2 → audio_values float32 [batch, 1, 512·4n]

Usage: /usr/bin/python3 scripts/snac_standin.py OUT_DIR [--seed 0] [--batch N]
  --batch N exports both models for a fixed batch of N (default: dynamic).
Needs torch (1.13 tested) and onnx; slow: minutes on two cores.
"""

import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

HOP_RATES = [2, 4, 8, 8]
DECODER_RATES = [8, 8, 4, 2]
VQ_STRIDES = [4, 2, 1]
ENCODER_DIM = 48
DECODER_DIM = 1024
CODEBOOK_SIZE = 4096
CODEBOOK_DIM = 8
PAD_MULTIPLE = math.prod(HOP_RATES) * max(VQ_STRIDES)  # 2048


def conv(cin, cout, kernel, stride=1, dilation=1, groups=1, bias=True, padding=None):
    if padding is None:
        padding = (kernel - 1) * dilation // 2
    return nn.Conv1d(cin, cout, kernel, stride=stride, dilation=dilation, groups=groups, bias=bias, padding=padding)


class Snake(nn.Module):
    """x + sin²(αx)/α per channel (the periodic activation of DAC and SNAC)."""

    def __init__(self, channels):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x):
        return x + torch.reciprocal(self.alpha + 1e-9) * torch.sin(self.alpha * x) ** 2


class Residual(nn.Module):
    def __init__(self, dim, dilation, groups):
        super().__init__()
        self.body = nn.Sequential(
            Snake(dim), conv(dim, dim, 7, dilation=dilation, groups=groups), Snake(dim), conv(dim, dim, 1)
        )

    def forward(self, x):
        return x + self.body(x)


def residual_stack(dim, groups):
    return [Residual(dim, d, groups) for d in (1, 3, 9)]


class Noise(nn.Module):
    """Adds N(0, 1) noise scaled per sample by a 1×1 convolution of the input (unseeded: the op
    the pipeline has to seed)."""

    def __init__(self, dim):
        super().__init__()
        self.scale = conv(dim, dim, 1, bias=False)

    def forward(self, x):
        noise = torch.randn_like(x[:, :1, :])
        return x + noise * self.scale(x)


def encoder():
    layers = [conv(1, ENCODER_DIM, 7)]
    dim = ENCODER_DIM
    for stride in HOP_RATES:
        layers += residual_stack(dim, groups=dim)
        layers += [Snake(dim), conv(dim, 2 * dim, 2 * stride, stride=stride, padding=math.ceil(stride / 2))]
        dim *= 2
    layers += [conv(dim, dim, 7, groups=dim)]
    return nn.Sequential(*layers), dim


def decoder(latent):
    layers = [conv(latent, latent, 7, groups=latent), conv(latent, DECODER_DIM, 1)]
    dim = DECODER_DIM
    for stride in DECODER_RATES:
        out = dim // 2
        layers += [
            Snake(dim),
            nn.ConvTranspose1d(
                dim, out, 2 * stride, stride=stride, padding=math.ceil(stride / 2), output_padding=stride % 2
            ),
            Noise(out),
        ]
        layers += residual_stack(out, groups=out)
        dim = out
    layers += [Snake(dim), conv(dim, 1, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def repeat_frames(z, times):
    if times == 1:
        return z
    return z.unsqueeze(-1).expand(-1, -1, -1, times).reshape(z.shape[0], z.shape[1], -1)


class Quantizer(nn.Module):
    """One level: pool by `stride`, project to 8 dims, nearest code by cosine, project back."""

    def __init__(self, latent, stride):
        super().__init__()
        self.stride = stride
        self.down = conv(latent, CODEBOOK_DIM, 1)
        self.up = conv(CODEBOOK_DIM, latent, 1)
        self.codebook = nn.Parameter(torch.randn(CODEBOOK_SIZE, CODEBOOK_DIM))

    def encode(self, z):
        if self.stride > 1:
            z = F.avg_pool1d(z, self.stride, self.stride)
        e = F.normalize(self.down(z).transpose(1, 2), dim=-1)  # [B, T, D]
        scores = e @ F.normalize(self.codebook, dim=-1).t()  # [B, T, K]
        return scores.argmax(-1)

    def decode(self, codes):
        points = F.embedding(codes, self.codebook).transpose(1, 2)  # [B, D, T]
        return repeat_frames(self.up(points), self.stride)


class Codec(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder, latent = encoder()
        self.quantizers = nn.ModuleList(Quantizer(latent, s) for s in VQ_STRIDES)
        self.decoder = decoder(latent)

    def encode(self, audio):
        samples = audio.shape[-1]
        audio = F.pad(audio, (0, (PAD_MULTIPLE - samples % PAD_MULTIPLE) % PAD_MULTIPLE))
        residual = self.encoder(audio)
        codes = []
        for q in self.quantizers:
            c = q.encode(residual)
            residual = residual - q.decode(c)
            codes.append(c)
        return codes

    def decode(self, codes):
        z = sum(q.decode(c) for q, c in zip(self.quantizers, codes))
        return self.decoder(z)


class EncoderGraph(nn.Module):
    def __init__(self, codec):
        super().__init__()
        self.codec = codec

    def forward(self, input_values):
        return tuple(self.codec.encode(input_values))


class DecoderGraph(nn.Module):
    def __init__(self, codec):
        super().__init__()
        self.codec = codec

    def forward(self, codes0, codes1, codes2):
        return self.codec.decode([codes0, codes1, codes2])


def build(seed):
    """The stand-in with random weights from `seed` (the same seed gives the same weights)."""
    torch.manual_seed(seed)
    codec = Codec().eval()
    # Weights small enough that activations stay finite through the four blocks.
    with torch.no_grad():
        for m in codec.modules():
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv1d) else m.weight.shape[0] // m.groups
                m.weight.normal_(0, 0.5 / math.sqrt(max(1, fan_in)))
    return codec


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=0, help="a fixed batch (default: dynamic)")
    args = parser.parse_args()
    codec = build(args.seed)
    params = sum(p.numel() for p in codec.parameters())
    print(f"SNAC 24 kHz stand-in: {params / 1e6:.1f} M parameters", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    batch = args.batch or 2
    codes_names = [f"audio_codes.{k}" for k in range(3)]
    audio = torch.randn(batch, 1, 3 * PAD_MULTIPLE) * 0.1
    dyn = {} if args.batch else {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(
            EncoderGraph(codec),
            (audio,),
            os.path.join(args.out, "encoder.onnx"),
            input_names=["input_values"],
            output_names=codes_names,
            dynamic_axes={
                "input_values": {**dyn, 2: "samples"},
                **{n: {**dyn, 1: f"frames_{k}"} for k, n in enumerate(codes_names)},
            },
            opset_version=17,
        )
        codes = codec.encode(audio)
        torch.onnx.export(
            DecoderGraph(codec),
            tuple(codes),
            os.path.join(args.out, "decoder.onnx"),
            input_names=codes_names,
            output_names=["audio_values"],
            dynamic_axes={
                **{n: {**dyn, 1: f"frames_{k}"} for k, n in enumerate(codes_names)},
                "audio_values": {**dyn, 2: "samples"},
            },
            opset_version=17,
        )
    print(f"wrote {args.out}/encoder.onnx and {args.out}/decoder.onnx", file=sys.stderr)


if __name__ == "__main__":
    main()
