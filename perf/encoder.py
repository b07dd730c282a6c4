"""Forward throughput of the VideoPrism video encoder (random weights) beside its FLOP count.

Measures, in one run: clips/s of ``encode_video`` for a config (default Base, 16x288x288), the
achieved FLOP/s from an analytic FLOP count of the forward pass, and the FLOP/s of a large
matmul on the same device, dtype and threads, measured right before and right after the model,
so that ``fraction_of_peak`` is a ratio of numbers measured together. The peak is the better of
the two; their spread is printed. A model faster than that peak means the machine's speed
changed during the run (load on a shared machine, clocks): the fraction is then not printed as
a number, and the script exits non-zero, rather than claim more than 100% of peak. On CPU it
runs fp32; on a GPU bf16 autocast with the fused attention path. The last line is
``clips_per_s: <x>``.

    python perf/encoder.py                        # Base, 16x288x288, batch 1
    python perf/encoder.py --frames 4 --size 144  # a quick run on a slow CPU
"""

from __future__ import annotations

import argparse
import time

import torch

from vpbench.models.config import VideoPrismConfig
from vpbench.models.videoprism import build_model
from vpbench.models.zoo import get_config


def _stack_flops(sequences: int, length: int, dim: int, mlp_dim: int, layers: int) -> float:
    """Multiply-adds x2 of pre-LN transformer layers: QKV + post (4 D^2), FFN (2 D M) per token,
    and QK^T plus PV (2 L D) per token; LayerNorm, softmax and GELU are left out (< 1%)."""
    per_token = 2 * (4 * dim * dim + 2 * dim * mlp_dim) + 4 * length * dim
    return float(sequences * length * per_token * layers)


def encoder_flops(config: VideoPrismConfig, frames: int, size: int) -> float:
    """FLOPs of one clip through the factorized encoder (patch projection, spatial, temporal)."""
    patches = (size // config.patch_size) ** 2
    dim = config.model_dim
    projection = 2.0 * frames * patches * (config.patch_size**2 * 3) * dim
    spatial = _stack_flops(frames, patches, dim, config.mlp_dim, config.num_spatial_layers)
    temporal = _stack_flops(patches, frames, dim, config.mlp_dim, config.num_temporal_layers)
    return projection + spatial + temporal


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_flops(device: torch.device, dtype: torch.dtype, n: int, repeats: int) -> float:
    """Best FLOP/s of an n x n x n matmul: the achievable peak the encoder is compared with."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        torch.matmul(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="videoprism-b", help="config name from the zoo (weights are random)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=288, help="frame height = width in pixels")
    parser.add_argument("--batch", type=int, default=None, help="clips per forward (default 1 on CPU, 8 on GPU)")
    parser.add_argument("--iters", type=int, default=2, help="timed forwards")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                        help="default: bf16 on GPU, fp32 on CPU")
    parser.add_argument("--attention", choices=["auto", "math", "flex"], default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile each transformer stack")
    args = parser.parse_args()

    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    precision = args.precision or ("bf16" if on_gpu else "fp32")
    batch = args.batch or (8 if on_gpu else 1)
    config = get_config(args.model).replace(model_type="encoder", num_auxiliary_layers=0, num_unimodal_layers=0,
                                            vocabulary_size=0, num_classes=0)
    torch.manual_seed(0)
    model = build_model(config).to(device).eval()
    model.set_precision(precision)
    model.set_attention_backend(args.attention)
    if args.compile:
        for module in model.modules():
            if module.__class__.__name__ == "TransformerStack":
                module.compile()

    matmul_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    peak_size, peak_repeats = (8192, 10) if on_gpu else (2048, 5)
    peak_before = matmul_peak_flops(device, matmul_dtype, peak_size, peak_repeats)

    video = torch.rand(batch, args.frames, args.size, args.size, 3, device=device)
    for _ in range(args.warmup):
        model.encode_video(video)
    _sync(device)
    start = time.perf_counter()
    for _ in range(args.iters):
        model.encode_video(video)
    _sync(device)
    seconds = (time.perf_counter() - start) / args.iters

    flops_per_clip = encoder_flops(config, args.frames, args.size)
    clips_per_s = batch / seconds
    achieved = flops_per_clip * clips_per_s
    peak_after = matmul_peak_flops(device, matmul_dtype, peak_size, peak_repeats)
    peak = max(peak_before, peak_after)

    print(f"device: {torch.cuda.get_device_name(device) if on_gpu else 'cpu'} "
          f"({torch.get_num_threads()} threads), precision {precision}, attention {args.attention}, "
          f"compile {args.compile}")
    print(f"model: {args.model} encoder, random weights, D={config.model_dim}, "
          f"{config.num_spatial_layers}+{config.num_temporal_layers} layers, patch {config.patch_size}")
    print(f"input: batch {batch} x {args.frames} frames x {args.size}x{args.size} "
          f"-> {args.frames * (args.size // config.patch_size) ** 2} tokens per clip")
    print(f"model_gflops_per_clip: {flops_per_clip / 1e9:.1f}")
    print(f"seconds_per_batch: {seconds:.4f}")
    print(f"achieved_tflops: {achieved / 1e12:.4f}")
    print(f"matmul_peak_tflops ({matmul_dtype}, {peak_size}^3, best of {peak_repeats}): {peak / 1e12:.4f} "
          f"(before the model {peak_before / 1e12:.4f}, after {peak_after / 1e12:.4f}, "
          f"spread {abs(peak_before - peak_after) / peak:.1%})")
    valid = achieved <= peak
    print(f"fraction_of_peak: {achieved / peak:.3f}" if valid else
          "fraction_of_peak: not measured (the model ran faster than the matmul peak measured around it: the "
          "machine's speed changed during the run; rerun it on a quiet machine)")
    print(f"clips_per_s: {clips_per_s:.4f}")
    if not valid:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
