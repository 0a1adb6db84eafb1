"""Where a benchmark case fails, and whether the pattern could tell.

    python benchmarks/failures.py cu_cu2o-free [--scan 64] [--threshold 2] [--seed 0]

Maps the case's sample exactly as ``pyxem-transformer benchmark --seed N``
does (same model, calibration check) with both methods, groups the pixels where
ours is more than ``threshold`` degrees off by grain, and for each such grain
simulates the kinematic spot list (diffsims, the data's excitation error and
reciprocal radius) at the true orientation and at ours. It prints:

- ``ours`` / ``TM``: the grain's median misorientation (Friedel twin counted
  right, as in the benchmark) for us and for template matching;
- ``shared``: the fraction of the summed spot intensity (direct beam left out)
  of both lists at positions they share within 0.01 1/Å;
- ``corr``: the normalised correlation of the two intensity lists over those
  positions (1: the same pattern);
- ``only``: the strongest spot that only one list has, relative to the
  strongest spot of the pattern.

A grain with ``shared`` and ``corr`` near 1 and a faint ``only`` is a
kinematic ambiguity: two orientations that are not symmetry equivalent give
the same spots, so found peaks cannot separate them.
"""

import argparse
import logging
import warnings

import numpy as np
from diffsims.generators.simulation_generator import SimulationGenerator

from pyxem_transformer import metrics
from pyxem_transformer.crystal.phase_io import diffsims_phase
from pyxem_transformer.evaluation.benchmark import run_template_matching
from pyxem_transformer.evaluation.benchmark_suite import CASES, _sample


def _spots(generator, phase, rotation, radius, excitation_error):
    sim = generator.calculate_diffraction2d(
        diffsims_phase(phase),
        rotation=rotation,
        reciprocal_radius=radius,
        max_excitation_error=excitation_error,
        with_direct_beam=False,
    )
    return sim.coordinates.data[:, :2], np.asarray(sim.coordinates.intensity)


def compare_spots(a, b, tolerance=0.01):
    """``shared``, ``corr`` and ``only`` (see the module notes) of two lists."""
    (xy_a, i_a), (xy_b, i_b) = a, b
    top = max(i_a.max(), i_b.max())
    d = np.linalg.norm(xy_a[:, None] - xy_b[None], axis=-1)
    pairs = np.argwhere(d < tolerance)
    shared = (i_a[pairs[:, 0]].sum() + i_b[pairs[:, 1]].sum()) / (i_a.sum() + i_b.sum())
    corr = (i_a[pairs[:, 0]] * i_b[pairs[:, 1]]).sum() / np.sqrt(
        (i_a**2).sum() * (i_b**2).sum()
    )
    alone_a = np.setdiff1d(np.arange(i_a.size), pairs[:, 0])
    alone_b = np.setdiff1d(np.arange(i_b.size), pairs[:, 1])
    only = max(i_a[alone_a].max(initial=0), i_b[alone_b].max(initial=0)) / top
    return float(shared), float(corr), float(only)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--scan", type=int, default=64)
    parser.add_argument("--threshold", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    case = CASES[args.case]
    model, signal, truth = _sample(case, args.scan, args.seed)
    ours = signal.as_lazy().get_orientation_map_transformer(
        model, show_progressbar=False
    )
    library = case.library_excitation_error or case.excitation_error
    tm = run_template_matching(signal, truth, library).xmap
    error = metrics.compare_crystal_maps(ours.to_crystal_map(), truth)
    error_tm = metrics.compare_crystal_maps(tm, truth)
    ours_deg = np.nan_to_num(error.misorientation.ravel(), nan=180.0)
    tm_deg = np.nan_to_num(error_tm.misorientation.ravel(), nan=180.0)
    grain = truth.prop["grain_id"]
    failed = ours_deg > args.threshold
    tm_failed = (tm_deg > args.threshold).mean()
    print(
        f"{args.case}: {failed.mean():.1%} of {failed.size} pixels more than "
        f"{args.threshold}° off (template matching: {tm_failed:.1%})"
    )
    generator = SimulationGenerator(accelerating_voltage=200)
    radius = float(np.abs([a.offset for a in signal.axes_manager.signal_axes]).max())
    radius *= np.sqrt(2)  # the data reach the detector corners
    found = ours.to_crystal_map()
    print("grain  pixels  phase    ours (deg)  TM (deg)  shared  corr   only")
    for g in np.unique(grain[failed]):
        here = np.flatnonzero((grain == g) & failed)
        first = here[0]
        phase = truth.phases[truth.phase_id[first]]
        true_rotation = truth.rotations[first]
        our_rotation = found.rotations[first]
        if found.phases[found.phase_id[first]].name != phase.name:
            shared = corr = only = float("nan")
        else:
            shared, corr, only = compare_spots(
                _spots(generator, phase, true_rotation, radius, case.excitation_error),
                _spots(generator, phase, our_rotation, radius, case.excitation_error),
            )
        ours_median, tm_median = np.median(ours_deg[here]), np.median(tm_deg[here])
        print(
            f"{g:5d}  {here.size:6d}  {phase.name:7s}  {ours_median:10.2f}"
            f"  {tm_median:8.2f}  {shared:6.3f}  {corr:5.3f}  {only:5.3f}"
        )


if __name__ == "__main__":
    main()
