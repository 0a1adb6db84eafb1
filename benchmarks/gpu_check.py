"""GPU readiness: patterns/s per stage and accuracy with ``device="cuda"``.

    python benchmarks/gpu_check.py [--scan 128] [--batch-size 8192]

Runs the benchmark's noise-free Cu and Cu + Cu2O cases (seed 0) on the
GPU and prints, per case, patterns/s of peak finding (the CPU kernel: it
has no GPU path), the network alone, the network plus the fit (batched
torch on the GPU), and end to end from the in-memory Diffraction2D to the
CrystalMap, plus the accuracy. Under five minutes on one H100/H200; it
exits with a message where CUDA is not available. The figures go to
docs/benchmark.md ("GPU").
"""

import argparse
import sys
import time

import numpy as np
import torch

from pyxem_transformer.evaluation import metrics
from pyxem_transformer.evaluation.benchmark_suite import CASES, _sample
from pyxem_transformer.mapping.predict import predict_tokens
from pyxem_transformer.tokens.peaks import find_peaks_batched
from pyxem_transformer.tokens.tokenize import make_tokens


def _rate(n: int, run) -> float:
    run()  # warm-up (CUDA context, kernels, numba)
    torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def check(name: str, scan: int, batch_size: int) -> None:
    model, signal, truth = _sample(CASES[name], scan, 0)
    model = model.to("cuda")
    images = np.asarray(signal.data).reshape(-1, *signal.data.shape[-2:])
    n = images.shape[0]
    axes = signal.axes_manager.signal_axes
    scale = tuple(a.scale for a in axes)
    offset = tuple(a.offset for a in axes)
    peaks = find_peaks_batched(images, scale, offset)
    tokens, mask = make_tokens(peaks, model.token_settings)
    rates = {
        "peaks (CPU)": _rate(n, lambda: find_peaks_batched(images, scale, offset)),
        "network": _rate(
            n,
            lambda: predict_tokens(
                model, tokens, mask, refine=False, device="cuda", batch_size=batch_size
            ),
        ),
        "network + fit": _rate(
            n,
            lambda: predict_tokens(
                model, tokens, mask, device="cuda", batch_size=batch_size
            ),
        ),
    }
    result = {}

    def end_to_end():
        result["map"] = signal.get_orientation_map_transformer(
            model, device="cuda", batch_size=batch_size, show_progressbar=False
        )

    rates["end to end"] = _rate(n, end_to_end)
    xmap = result["map"].to_crystal_map()
    angle = np.nan_to_num(
        metrics.compare_crystal_maps(xmap, truth).misorientation.ravel(), nan=180
    )
    print(f"{name}: {n} patterns, {torch.cuda.get_device_name()}")
    for stage, rate in rates.items():
        print(f"  {stage}: {rate:,.0f} patterns/s")
    print(
        f"  accuracy: median {np.median(angle):.2f} deg, {np.mean(angle < 2):.1%} "
        f"< 2 deg, {np.mean(angle < 5):.1%} < 5 deg"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scan", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8192)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("CUDA is not available here: nothing to check.", file=sys.stderr)
        return 1
    for name in ("cu-free", "cu_cu2o-free"):
        check(name, args.scan, args.batch_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
