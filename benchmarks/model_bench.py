"""Encoder throughput at the paper's grid (128³) on the CPU in fp32, and FLOPs per sample.

Usage::

    python benchmarks/model_bench.py [--grid 128] [--batch-sizes 1,2,4] [--repeats 5] [--precision fp32]

Prints, for each batch size, the median time of ``PeriodicAutoencoder.encode`` over ``--repeats``
runs (after one warm-up), samples/s and the achieved GFLOP/s (convolution multiply-adds × 2, from
``encoder_flops_per_sample``). Also times the attention CNN on the resulting latents.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=128)
    parser.add_argument("--batch-sizes", default="1,2,4")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16", "auto"])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from screener.config import AttentionConfig, AutoencoderConfig
    from screener.models.attention import AttentionRegressor
    from screener.models.autoencoder import PeriodicAutoencoder, encoder_flops_per_sample
    from screener.models.precision import resolve_precision

    policy = resolve_precision(args.precision, args.device)
    config = AutoencoderConfig(grid=args.grid)
    model = PeriodicAutoencoder(config).to(policy.device).eval()
    attention = AttentionRegressor(latent_channels=16, latent_grid=config.latent_grid, n_tabular=141, n_targets=5,
                                   config=AttentionConfig()).to(policy.device).eval()  # fmt: skip
    flops = encoder_flops_per_sample(config)
    print(f"device {policy.device} precision {policy.name} threads {torch.get_num_threads()} grid {args.grid}³")
    print(f"encoder: {flops / 1e9:.2f} GFLOP per sample (convolutions, 2 × multiply-adds); latent {config.latent_channels}×{config.latent_grid}³")

    def sync() -> None:
        if policy.device.type == "cuda":
            torch.cuda.synchronize()

    for batch in (int(b) for b in args.batch_sizes.split(",")):
        x = torch.rand(batch, args.grid, args.grid, args.grid, device=policy.device)
        times, att_times = [], []
        with torch.inference_mode():
            for repeat in range(args.repeats + 1):
                sync()
                start = time.perf_counter()
                with policy.autocast():
                    latent = model.encode(x)
                sync()
                elapsed = time.perf_counter() - start
                start = time.perf_counter()
                with policy.autocast():
                    attention(latent.float(), torch.zeros(batch, 141, device=policy.device))
                sync()
                if repeat:  # the first pass is a warm-up
                    times.append(elapsed)
                    att_times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(
            f"batch {batch}: encode median {median:.3f} s ({batch / median:.2f} samples/s, "
            f"{flops * batch / median / 1e9:.1f} GFLOP/s); attention CNN {statistics.median(att_times) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
