"""How peaks found in images differ from the exact simulated spots.

Run ``python -m pyxem_transformer.evaluation.domain_gap`` to print, for simulated grain
maps at several doses, the fraction of true spots the batched peak finder
recovers (overall and for spots above 5% of the strongest), the rate of
spurious peaks, and the position error. These figures set the ranges of
:class:`pyxem_transformer.tokens.augment.AugmentationSettings`.
"""

import argparse
from dataclasses import asdict, dataclass

import numpy as np
from diffsims.generators.simulation_generator import SimulationGenerator

from pyxem_transformer._validation import reciprocal_calibration
from pyxem_transformer.crystal import phases
from pyxem_transformer.crystal.phase_io import diffsims_phase
from pyxem_transformer.evaluation import data
from pyxem_transformer.simulation.frame import detector_frame
from pyxem_transformer.tokens.peaks import find_peaks_batched

__all__ = ["DomainGap", "measure_domain_gap"]


@dataclass(frozen=True)
class DomainGap:
    """Peak-finding figures against the exact spots (see module notes).

    Attributes
    ----------
    dose
        Electrons per pattern (None: noise-free).
    found_fraction
        Fraction of the true spots with a found peak within the match radius.
    found_fraction_strong
        The same for spots above 5% of the strongest's intensity.
    spurious_per_pattern
        Found peaks per pattern with no true spot near them.
    median_position_error
        Median distance (1/Å) of matched peaks from their spots.
    true_per_pattern
        True spots per pattern within the detector.
    """

    dose: float | None
    found_fraction: float
    found_fraction_strong: float
    spurious_per_pattern: float
    median_position_error: float
    true_per_pattern: float

    def as_dict(self) -> dict:
        """Return the figures as a plain dictionary.

        Returns
        -------
        figures
            Field names and values.
        """
        return asdict(self)


def measure_domain_gap(
    phase=None,
    dose: float | None = None,
    scan_shape: tuple[int, int] = (16, 16),
    calibration: float = 0.02,
    disk_sigma: float = 2.0,
    max_excitation_error: float = 0.1,
    n_grains: int = 20,
    seed: int = 0,
    match_radius_px: float = 1.5,
    **finder_kwargs,
) -> DomainGap:
    """Compare peaks found in simulated images with their exact spot lists.

    Parameters
    ----------
    phase
        The phase (default Cu).
    dose
        Electrons per pattern, None for noise-free.
    scan_shape, calibration, disk_sigma, max_excitation_error, n_grains, seed
        Passed to :func:`pyxem_transformer.evaluation.data.simulated_grains`.
    match_radius_px
        A found peak within this many pixels of a true spot matches it.
    **finder_kwargs
        Passed to :func:`pyxem_transformer.tokens.peaks.find_peaks_batched`.

    Returns
    -------
    gap
        A :class:`DomainGap`.
    """
    phase = phase if phase is not None else phases.cu()
    signal, truth = data.simulated_grains(
        phase,
        scan_shape=scan_shape,
        calibration=calibration,
        disk_sigma=disk_sigma,
        dose=dose,
        max_excitation_error=max_excitation_error,
        n_grains=n_grains,
        seed=seed,
    )
    rows, cols = signal.axes_manager.signal_shape[::-1]
    half = 0.5 * calibration * (min(rows, cols) - 1) - 2 * calibration
    simulation = SimulationGenerator(200).calculate_diffraction2d(
        diffsims_phase(phase),
        rotation=truth.rotations,
        reciprocal_radius=1.5 * half,
        max_excitation_error=max_excitation_error,
        with_direct_beam=False,
    )
    scale, offset = reciprocal_calibration(signal)
    found = find_peaks_batched(
        signal.data.reshape(-1, rows, cols),
        tuple(scale),
        tuple(offset),
        **finder_kwargs,
    )
    counts, errors = _match_spots(
        simulation, found, half, match_radius_px * calibration
    )
    n_true, n_found_true, n_strong, n_found_strong, n_spurious = counts
    n_patterns = found.n_patterns
    errors = np.concatenate(errors) if errors else np.array([np.nan])
    return DomainGap(
        dose=dose,
        found_fraction=n_found_true / max(n_true, 1),
        found_fraction_strong=n_found_strong / max(n_strong, 1),
        spurious_per_pattern=n_spurious / n_patterns,
        median_position_error=float(np.median(errors)),
        true_per_pattern=n_true / n_patterns,
    )


def main(argv=None) -> int:
    """Print the domain-gap table for noise-free, 3000 and 300 e/pattern."""
    parser = argparse.ArgumentParser(
        prog="python -m pyxem_transformer.evaluation.domain_gap", description=__doc__
    )
    parser.add_argument("--phase", default="cu", help="built-in phase name")
    parser.add_argument("--scan", type=int, default=16, help="scan side (pixels)")
    args = parser.parse_args(argv)
    phase = phases.by_name(args.phase)
    print(
        f"Batched peak finder against exact diffsims spots, {phase.name}, "
        f"{args.scan}x{args.scan} patterns of 128x128 at 0.02 1/Å per pixel"
    )
    print(
        "| dose (e/pattern) | true spots/pattern | found | found (>5% of max) "
        "| spurious/pattern | median position error (1/Å) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for dose in (None, 3000, 300):
        gap = measure_domain_gap(phase, dose=dose, scan_shape=(args.scan, args.scan))
        print(
            f"| {'noise-free' if dose is None else dose} | {gap.true_per_pattern:.1f} "
            f"| {gap.found_fraction:.0%} | {gap.found_fraction_strong:.0%} "
            f"| {gap.spurious_per_pattern:.2f} | {gap.median_position_error:.4f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def _match_spots(simulation, found, half: float, radius: float):
    """Count true, found, strong and spurious spots pattern by pattern.

    Returns ``(n_true, n_found_true, n_strong, n_found_strong, n_spurious)``
    and the position errors of the matched peaks (1/Å), per pattern.
    """
    n_true = n_found_true = n_strong = n_found_strong = n_spurious = 0
    errors = []
    for i, spots in enumerate(simulation.coordinates):
        kx, ky = detector_frame(spots.data[:, 0], spots.data[:, 1])
        intensity = np.asarray(spots.intensity)
        inside = (np.abs(kx) < half) & (np.abs(ky) < half)
        inside &= intensity > 1e-6 * intensity.max()
        kx, ky, intensity = kx[inside], ky[inside], intensity[inside]
        peaks = found.pattern(i)
        g = np.hypot(peaks[:, 0], peaks[:, 1])
        peaks = peaks[g > 0.1]  # the direct beam is not a Bragg spot
        if kx.size == 0:
            n_spurious += len(peaks)
            continue
        d = np.hypot(peaks[:, None, 0] - kx[None], peaks[:, None, 1] - ky[None])
        strong = intensity >= 0.05 * intensity.max()
        matched = (d <= radius).any(axis=0) if len(peaks) else np.zeros(kx.size, bool)
        n_true += kx.size
        n_found_true += int(matched.sum())
        n_strong += int(strong.sum())
        n_found_strong += int((matched & strong).sum())
        if len(peaks):
            nearest = d.min(axis=1)
            n_spurious += int((nearest > radius).sum())
            errors.append(nearest[nearest <= radius])
    return (n_true, n_found_true, n_strong, n_found_strong, n_spurious), errors
