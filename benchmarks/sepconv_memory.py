"""Peak memory of the per-pixel separable convolution at 1080p (no gradients).

    .venv/bin/python benchmarks/sepconv_memory.py [--height 1080 --width 1920 --taps 13]

Prints peak RSS before the inputs exist, after, and after one convolution (CPU), in GiB; on
CUDA (``--device cuda``) it prints torch's peak allocated memory instead.
"""

from __future__ import annotations

import argparse
import resource

import torch

from dvcp_plugin.models.sepconv import per_pixel_separable_conv


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--taps", type=int, default=13)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    baseline = _rss_gib()
    shape = (1, args.taps, args.height, args.width)
    image = torch.rand(1, args.channels, args.height, args.width, device=device)
    vertical = torch.softmax(torch.randn(shape, device=device), dim=1)
    horizontal = torch.softmax(torch.randn(shape, device=device), dim=1)
    inputs = _rss_gib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad():
        per_pixel_separable_conv(image, vertical, horizontal)
    print(f"size {args.width}x{args.height}, C={args.channels}, N={args.taps}, device {device}")
    if device.type == "cuda":
        print(f"peak CUDA memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    else:
        peak = _rss_gib()
        print(f"peak RSS: baseline {baseline:.2f} GiB, with inputs {inputs:.2f} GiB, "
              f"after the convolution {peak:.2f} GiB (the convolution adds {peak - inputs:.2f} GiB)")


if __name__ == "__main__":
    main()
