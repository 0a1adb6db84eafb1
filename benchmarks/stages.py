"""Throughput of the pipeline's stages, measured side by side in one run.

    python benchmarks/stages.py peaks        # batched finder vs pyxem local_max
    python benchmarks/stages.py simulate     # 100,000 cubic training patterns

Peak finding: a noise-free 64x64 scan of 128x128 Cu patterns
(pyxem_transformer.evaluation.data), pyxem's
``get_diffraction_vectors(method="local_max")`` against
``pyxem_transformer.tokens.find_peaks_batched`` on the same array, both
after a warm-up, reported in patterns/s and as a ratio.
"""

import argparse
import logging
import time

from pyxem_transformer import data, phases, simulation
from pyxem_transformer._validation import reciprocal_calibration
from pyxem_transformer.tokens.peaks import find_peaks_batched


def peaks(scan: int) -> None:
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    s, _ = data.simulated_grains(phases.cu(), scan_shape=(scan, scan), n_grains=20)
    scale, offset = (tuple(v) for v in reciprocal_calibration(s))
    images = s.data.reshape(-1, *s.data.shape[-2:])
    n = images.shape[0]
    kwargs = dict(method="local_max", threshold_abs=0.002, min_distance=3)
    s.inav[:2, :2].get_diffraction_vectors(show_progressbar=False, **kwargs)
    find_peaks_batched(images[:8], scale, offset)  # compile
    t = time.perf_counter()
    s.get_diffraction_vectors(show_progressbar=False, **kwargs)
    pyxem_rate = n / (time.perf_counter() - t)
    t = time.perf_counter()
    found = find_peaks_batched(images, scale, offset)
    ours_rate = n / (time.perf_counter() - t)
    per_pattern = found.counts.mean()
    print(f"{scan}x{scan} scan of 128x128 patterns, {per_pattern:.1f} peaks/pattern")
    print(f"pyxem local_max:      {pyxem_rate:8.0f} patterns/s")
    print(f"find_peaks_batched:   {ours_rate:8.0f} patterns/s")
    print(f"ratio:                {ours_rate / pyxem_rate:8.1f}x")


def simulate(n: int) -> None:
    s = simulation.simulate_spots(phases.cu(), n, show_progressbar=True)
    print(
        f"simulated {s.n_patterns} Cu patterns in {s.seconds:.1f} s "
        f"({s.n_patterns / s.seconds:.0f} patterns/s, "
        f"{s.peaks.counts.mean():.1f} spots/pattern); diffsims' per-call "
        "kinematic simulation is the limit (single-threaded numpy)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", choices=["peaks", "simulate"])
    parser.add_argument("--scan", type=int, default=64)
    parser.add_argument("-n", type=int, default=100_000)
    args = parser.parse_args()
    if args.stage == "peaks":
        peaks(args.scan)
    else:
        simulate(args.n)


if __name__ == "__main__":
    main()
