"""GPU readiness: patterns/s per stage and accuracy with ``device="cuda"``.

    python benchmarks/gpu_check.py [--scan 128] [--batch-size 8192] [--cases ...]

Runs benchmark cases (seed 0; by default noise-free Cu and Cu + Cu2O and
Cu at 3000 electrons per pattern) on the GPU and prints, per case,
patterns/s of peak finding (the CPU kernel: it has no GPU path), the
network alone, the network plus the fit (batched torch on the GPU), and
end to end from the in-memory Diffraction2D to the CrystalMap, plus the
accuracy. It then runs the first ``--compare`` patterns through the CPU
path as well (the network in float32, the fit in the compiled float64
kernel) and prints how far the two paths' answers are apart and each
one's accuracy on them: the GPU path (half-precision network,
single-precision torch fit) must find the same orientations. Under five
minutes on one H100/H200; it exits with a message where CUDA is not
available. The figures go to docs/benchmark.md ("GPU").
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


def check(name: str, scan: int, batch_size: int, compare: int) -> None:
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
    _compare_paths(model, tokens[:compare], mask[:compare], truth, batch_size)


def _compare_paths(model, tokens, mask, truth, batch_size: int) -> None:
    """Print how far the GPU and CPU paths' answers are apart, and each's accuracy."""
    gpu, cpu = (
        predict_tokens(model, tokens, mask, device=d, batch_size=batch_size)
        for d in ("cuda", "cpu")
    )
    gpu_phase, cpu_phase = gpu.phase_index[:, 0], cpu.phase_index[:, 0]
    true_phase = np.asarray(truth.phase_id).ravel()[: len(tokens)]
    true_rot = truth.rotations.data.reshape(-1, 4)[: len(tokens)]
    true_name = np.array([truth.phases[int(j)].name for j in true_phase])
    apart = np.full(len(tokens), 180.0)
    error = {"GPU": np.full(len(tokens), 180.0), "CPU": np.full(len(tokens), 180.0)}
    for i, phase in enumerate(model.phases):
        both = (gpu_phase == i) & (cpu_phase == i)
        apart[both] = metrics.misorientation_angles(
            gpu.quaternions[both, 0], cpu.quaternions[both, 0], phase.point_group
        )
        for label, pred in (("GPU", gpu), ("CPU", cpu)):
            right = (pred.phase_index[:, 0] == i) & (true_name == phase.name)
            error[label][right] = metrics.misorientation_angles(
                pred.quaternions[right, 0], true_rot[right], phase.point_group
            )
    print(
        f"  GPU against CPU path, first {len(tokens)} patterns: same phase "
        f"{np.mean(gpu_phase == cpu_phase):.1%}; orientations apart: median "
        f"{np.median(apart):.3f} deg, {np.mean(apart < 0.1):.1%} < 0.1 deg, "
        f"{np.mean(apart < 1):.1%} < 1 deg"
    )
    for label, angle in error.items():
        print(
            f"  {label} path on them: median {np.median(angle):.2f} deg, "
            f"{np.mean(angle < 2):.1%} < 2 deg, {np.mean(angle < 5):.1%} < 5 deg"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scan", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument(
        "--cases", nargs="+", default=["cu-free", "cu_cu2o-free", "cu-3000"]
    )
    parser.add_argument(
        "--compare", type=int, default=4096, help="patterns also run on the CPU path"
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("CUDA is not available here: nothing to check.", file=sys.stderr)
        return 1
    for name in args.cases:
        check(name, args.scan, args.batch_size, args.compare)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
