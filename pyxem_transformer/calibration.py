"""Calibration self-check: do the found peaks sit where the phases put them?

Calibrations stored in files are often off by several percent, and both
template matching and a model then return wrong orientations without
warning. The peaks themselves tell: the direct beam marks the centre, and
the radii of the Bragg peaks around it must match the reciprocal lattice
radii ``|g|`` of the model's phases. :func:`check_calibration` finds peaks
in a sample of patterns and fits

* the centre offset: median position of each pattern's brightest peak near
  the nominal centre (the direct beam), in 1/Å;
* the scale factor ``f`` by which the signal's 1/Å per pixel must be
  multiplied so that peak radii meet the lattice radii: a robust grid
  search over ``f`` (each peak scores by its distance to the nearest radius)
  followed by a least-squares polish on the peaks that then match.
"""

import warnings
from dataclasses import dataclass, replace

import numpy as np
from orix.crystal_map import PhaseList

from ._validation import check_diffraction_signal, reciprocal_calibration
from .peaks import PeakSet, find_peaks_batched
from .refine import reciprocal_lattice_points

__all__ = [
    "CalibrationCheck",
    "CalibrationWarning",
    "DataWarning",
    "check_data_sample",
    "check_reciprocal_range",
    "check_calibration",
    "estimate_calibration",
    "calibration_for_mapping",
]


class CalibrationWarning(UserWarning):
    """The signal's calibration is further off than the model tolerates."""


class DataWarning(UserWarning):
    """The data holds values that need attention (NaN, negative, blank)."""


#: Scale factors searched: calibration errors up to about 10% either way.
#: Wider ranges are ambiguous: cubic lattices have radius ratios of
#: 2/sqrt(3) = 1.155, and two phases' lattices can be scaled copies of each
#: other (Cu and Cu2O: 1.18).
SCALE_RANGE = (0.9, 1.11)


@dataclass(frozen=True)
class CalibrationCheck:
    """Estimated calibration error of a signal against a model's phases.

    Attributes
    ----------
    scale
        Factor the signal's reciprocal pixel size should be multiplied by
        (1.0: correct).
    scale_uncertainty
        Standard error of ``scale``.
    centre_offset
        ``(kx, ky)`` position in 1/Å of the direct beam in the signal's
        calibrated frame (0, 0: centred).
    centre_uncertainty
        Standard error of each component of ``centre_offset``, 1/Å.
    n_patterns, n_peaks
        Patterns used and Bragg peaks matched to a lattice radius.
    tolerance
        Largest scale error the model was trained to absorb.
    centre_tolerance
        Largest centre offset (1/Å) the model was trained to absorb.
    """

    scale: float
    scale_uncertainty: float
    centre_offset: tuple[float, float]
    centre_uncertainty: float
    n_patterns: int
    n_peaks: int
    tolerance: float = 0.02
    centre_tolerance: float = 0.01

    @property
    def scale_error(self) -> float:
        """Relative error of the signal's calibration, ``scale - 1``."""
        return self.scale - 1.0

    @property
    def within_tolerance(self) -> bool:
        """True if scale error and centre offset are within the tolerances."""
        return (
            abs(self.scale_error) <= self.tolerance
            and float(np.hypot(*self.centre_offset)) <= self.centre_tolerance
        )

    def __str__(self) -> str:
        return (
            f"calibration factor {self.scale:.4f} ± {self.scale_uncertainty:.4f} "
            f"({self.scale_error:+.1%}), direct beam at ({self.centre_offset[0]:+.4f}, "
            f"{self.centre_offset[1]:+.4f}) ± {self.centre_uncertainty:.4f} 1/Å, "
            f"from {self.n_peaks} peaks in {self.n_patterns} patterns"
        )

    @property
    def reliable(self) -> bool:
        """True if the estimate is precise enough to map with.

        Its scale uncertainty is below a quarter of the tolerance and its
        centre uncertainty below half the centre tolerance, from at least 50
        matched peaks.
        """
        return (
            self.n_peaks >= 50
            and self.scale_uncertainty <= self.tolerance / 4
            and self.centre_uncertainty <= self.centre_tolerance / 2
        )

    def corrected(
        self, scale: tuple[float, float], offset: tuple[float, float]
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        """Return the corrected ``(scale, offset)`` of the two signal axes.

        The scale becomes ``self.scale * scale`` and the offsets are set so
        the direct beam sits at 0 1/Å.

        Parameters
        ----------
        scale, offset
            The checked signal's ``(x, y)`` signal-axis calibration in 1/Å.

        Returns
        -------
        scale, offset
            The corrected calibration, ``(x, y)`` each.
        """
        new_scale, new_offset = [], []
        for step, start, centre in zip(scale, offset, self.centre_offset, strict=True):
            pixel = (centre - start) / step  # the direct beam, in pixels
            new_scale.append(float(step * self.scale))
            new_offset.append(float(-pixel * step * self.scale))
        return tuple(new_scale), tuple(new_offset)

    def apply(self, signal) -> None:
        """Correct the signal's signal-axis calibration in place.

        The scale becomes ``scale * old scale`` and the offsets are set so
        the direct beam sits at 0 1/Å (:meth:`corrected`).

        Parameters
        ----------
        signal
            The pyxem ``Diffraction2D`` that was checked.
        """
        axes = signal.axes_manager.signal_axes
        scale, offset = self.corrected(
            tuple(a.scale for a in axes), tuple(a.offset for a in axes)
        )
        for axis, step, start in zip(axes, scale, offset, strict=True):
            axis.scale, axis.offset = step, start


def _nearest(lattice: np.ndarray, values: np.ndarray) -> np.ndarray:
    index = np.clip(np.searchsorted(lattice, values), 1, len(lattice) - 1)
    below, above = lattice[index - 1], lattice[index]
    return np.where(values - below < above - values, below, above)


def _log_mixture(lattice: np.ndarray, grid: np.ndarray, width: float) -> np.ndarray:
    """Log-likelihood on ``grid`` of a peak radius given a phase's radii.

    A mixture: near one of the lattice radii (each equally likely, Gaussian
    of the peak finder's width) or anywhere (spurious peaks, 30%). Dense
    radii (high orders, big cells) explain any radius a little, so no scale
    factor wins by pushing peaks into a crowd.
    """
    density = np.zeros_like(grid)
    for g in lattice:
        density += np.exp(-0.5 * ((grid - g) / width) ** 2)
    density /= len(lattice) * width * np.sqrt(2 * np.pi)
    spurious = 0.3
    return np.log(spurious / grid[-1] + (1 - spurious) * density)


def _lattice_radii(phases, max_radius: float) -> np.ndarray:
    if isinstance(phases, PhaseList):
        phases = [phases[i] for i in phases.ids]
    radii = [
        np.linalg.norm(reciprocal_lattice_points(p, max_radius), axis=1) for p in phases
    ]
    return np.unique(np.round(np.concatenate(radii), 4))


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Indices where a run of equal keys starts (none for no keys)."""
    if sorted_keys.size == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def _beam_and_bragg(
    peaks: PeakSet, direct_beam_radius: float, strongest: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each pattern's direct beam and its strongest Bragg peaks relative to it.

    A pattern counts if it has two peaks or more and one of them lies within
    ``direct_beam_radius`` of the nominal centre: the brightest of those is
    its direct beam. Its ``strongest`` brightest other peaks (low-order
    reflections, where lattice radii are sparse and spurious peaks rare)
    are returned relative to the beam, weighted by the square root of their
    intensity over the beam's, with the index of their pattern (``owner``,
    counting kept patterns only, in order). All patterns at once, by sorting.
    """
    xy = np.stack([peaks.kx, peaks.ky], 1).astype(float)
    intensity = np.asarray(peaks.intensity, dtype=float)
    pattern = peaks.pattern_index
    near = np.linalg.norm(xy, axis=1) < direct_beam_radius
    # Per pattern: peaks near the centre first, each group brightest first
    # (a stable sort: ties go to the first peak, as np.argmax would).
    order = np.lexsort((-intensity, ~near, pattern))
    beams = order[_group_starts(pattern[order])]
    valid = near[beams] & (peaks.counts[pattern[beams]] >= 2)
    beam_of = np.full(peaks.n_patterns, -1)
    beam_of[pattern[beams[valid]]] = beams[valid]
    new_index = np.cumsum(beam_of >= 0) - 1  # among the kept patterns
    is_beam = np.zeros(len(intensity), bool)
    is_beam[beams[valid]] = True
    rest = np.flatnonzero((beam_of[pattern] >= 0) & ~is_beam)
    # Brightest first; equal intensities (common in counts) latest peak first,
    # as the reversed ascending sort this replaced chose them.
    rest = rest[np.lexsort((-rest, -intensity[rest], pattern[rest]))]
    starts = _group_starts(pattern[rest])
    rank = np.arange(rest.size) - np.repeat(starts, np.diff(np.r_[starts, rest.size]))
    rest = rest[rank < strongest]
    beam = beam_of[pattern[rest]]
    return (
        xy[beams[valid]],
        xy[rest] - xy[beam],
        np.sqrt(intensity[rest] / intensity[beam]),
        new_index[pattern[rest]],
    )


def estimate_calibration(
    peaks: PeakSet,
    phases,
    *,
    direct_beam_radius: float = 0.15,
    max_radius: float = 1.5,
    tolerance: float = 0.02,
    strongest: int = 8,
) -> CalibrationCheck:
    """Estimate scale factor and centre offset from found peaks.

    Parameters
    ----------
    peaks
        Peaks of a sample of patterns in the signal's calibrated frame (1/Å),
        direct beam included.
    phases
        orix phases (a ``PhaseList`` or a list) whose lattices should explain
        the peaks.
    direct_beam_radius
        Each pattern's brightest peak within this distance (1/Å) of the
        nominal centre is taken as the direct beam.
    max_radius
        Bragg peaks farther out (1/Å) are ignored.
    tolerance
        Scale error the model tolerates, stored in the result.
    strongest
        Bragg peaks used per pattern, the most intense first.

    Returns
    -------
    check
        A :class:`CalibrationCheck`.

    Raises
    ------
    ValueError
        If too few peaks are found to estimate anything.
    """
    centres, vectors, weight, owner = _beam_and_bragg(
        peaks, direct_beam_radius, strongest
    )
    if len(centres) < 3:
        raise ValueError(
            f"Only {len(centres)} patterns show a direct beam within "
            f"{direct_beam_radius} 1/Å of the calibrated centre; set the centre "
            "(e.g. pyxem's `s.center_direct_beam()` or `s.calibration.center = "
            "None`) before checking the calibration."
        )
    centre = np.median(centres, axis=0)
    mad = np.median(np.abs(centres - centre), axis=0) * 1.4826
    centre_error = float(np.max(mad) / np.sqrt(len(centres)))
    radius = np.linalg.norm(vectors, axis=1)
    keep = (radius > direct_beam_radius) & (radius < max_radius)
    radius, weight, owner = radius[keep], weight[keep], owner[keep]
    if radius.size < 50:
        raise ValueError(
            f"Only {radius.size} Bragg peaks were found in the sampled patterns; "
            "too few to check the calibration. Lower the peak threshold or "
            "sample more patterns."
        )
    if isinstance(phases, PhaseList):
        phases = [phases[i] for i in phases.ids]
    top = max_radius * SCALE_RANGE[1] + 0.1
    lattices = [_lattice_radii([p], top) for p in phases]
    width = 0.01  # 1/Å: about the peak finder's position error
    grid = np.arange(0.0, top + 5 * width, width / 10)
    tables = [_log_mixture(g, grid, width) for g in lattices]
    n_patterns = len(centres)

    def best_phase(factor: float) -> tuple[float, np.ndarray]:
        # Each pattern is one phase: score its peaks against each phase's
        # radii and keep the best (two phases' lattices can be scaled copies
        # of each other, so pooling their radii is ambiguous).
        per_phase = np.stack(
            [
                np.bincount(
                    owner,
                    weights=weight * np.interp(radius * factor, grid, t),
                    minlength=n_patterns,
                )
                for t in tables
            ]
        )
        return float(per_phase.max(0).sum()), per_phase.argmax(0)

    starts = _group_starts(owner)

    def scores(factors: np.ndarray) -> np.ndarray:
        # ``best_phase`` for many factors at once: each pattern's score per
        # phase is a sum over its peaks (``owner`` is sorted by pattern).
        scaled_radii = np.multiply.outer(factors, radius)
        per_phase = [
            np.add.reduceat(weight * np.interp(scaled_radii, grid, t), starts, axis=1)
            for t in tables
        ]
        return np.max(per_phase, axis=0).sum(axis=1)

    # Grid search in steps of 0.0005, coarse to fine: every fourth factor,
    # then every factor within two coarse steps of the best (a score peak
    # is about width / radius, some 0.01, wide: the coarse grid cannot
    # step over it).
    factors = np.arange(*SCALE_RANGE, 0.0005)
    best = 4 * int(np.argmax(scores(factors[::4])))
    fine = factors[max(best - 8, 0) : best + 9]
    factor = float(fine[int(np.argmax(scores(fine)))])

    def match(factor: float) -> tuple[np.ndarray, np.ndarray]:
        phase_of_peak = best_phase(factor)[1][owner]
        nearest = np.empty_like(radius)
        scaled = radius * factor
        for index, lattice in enumerate(lattices):
            here = phase_of_peak == index
            nearest[here] = _nearest(lattice, scaled[here])
        return nearest, scaled - nearest

    for _ in range(3):  # least squares on the peaks that match
        nearest, residual = match(factor)
        good = np.abs(residual) < 2 * width
        w = weight[good]
        r, t = radius[good], nearest[good]
        factor = float(np.sum(w * r * t) / np.sum(w * r * r))
    nearest, residual = match(factor)
    good = np.abs(residual) < 2 * width
    spread = np.sqrt(np.average(residual[good] ** 2, weights=weight[good]))
    n_good = int(good.sum())
    uncertainty = float(spread / np.mean(nearest[good]) / np.sqrt(max(n_good, 1)))
    return CalibrationCheck(
        scale=factor,
        scale_uncertainty=uncertainty,
        centre_offset=(float(centre[0]), float(centre[1])),
        centre_uncertainty=centre_error,
        n_patterns=len(centres),
        n_peaks=n_good,
        tolerance=tolerance,
    )


def _sample_patterns(signal, n_patterns: int) -> np.ndarray:
    """Return up to ``n_patterns`` patterns from a central block of the scan.

    A contiguous block touches few chunks of a lazy signal; a strided sample
    would read all of them.
    """
    nav = signal.axes_manager.navigation_shape[::-1]  # array order
    side = max(1, int(np.sqrt(n_patterns)))
    index = []
    for size in nav:
        count = side if len(nav) == 2 else n_patterns
        count = min(size, count)
        start = (size - count) // 2
        index.append(slice(start, start + count))
    block = signal.data[tuple(index)]
    block = np.asarray(block.compute() if hasattr(block, "compute") else block)
    return block.reshape(-1, *block.shape[-2:])


def check_calibration(
    signal, model, *, n_patterns: int = 256, peak_kwargs: dict | None = None
) -> CalibrationCheck:
    """Check a signal's reciprocal calibration against a model's phases.

    Parameters
    ----------
    signal
        A pyxem ``Diffraction2D`` (lazy or not) calibrated in 1/Å.
    model
        The model to map with; its phases' lattices are the reference, and
        its training augmentation sets the tolerance.
    n_patterns
        Patterns sampled (a central block of the scan).
    peak_kwargs
        Keyword arguments of :func:`pyxem_transformer.peaks.find_peaks_batched`.

    Returns
    -------
    check
        A :class:`CalibrationCheck`; ``print`` it for a summary, and
        ``check.apply(signal)`` corrects the signal's calibration.

    Examples
    --------
    >>> import pyxem_transformer as pxt
    >>> s, _ = pxt.data.simulated_grains(pxt.phases.cu(), scan_shape=(8, 8))
    >>> s.axes_manager.signal_axes[0].scale *= 1.05  # stored 5% too large
    >>> s.axes_manager.signal_axes[1].scale *= 1.05
    >>> check = pxt.check_calibration(s, pxt.pretrained("cu"))
    >>> round(check.scale * 1.05, 2)
    1.0
    """
    check_diffraction_signal(signal)
    scale, offset = reciprocal_calibration(signal)
    patterns = _sample_patterns(signal, n_patterns)
    check_reciprocal_range(signal, model)
    check_data_sample(patterns)
    peaks = find_peaks_batched(
        patterns, tuple(scale), tuple(offset), **(peak_kwargs or {})
    )
    scale_tolerance, centre_tolerance = _tolerances(model)
    check = estimate_calibration(
        peaks,
        model.phases,
        max_radius=float(model.token_settings.max_radius),
        tolerance=scale_tolerance,
    )
    return replace(check, centre_tolerance=centre_tolerance)


def check_reciprocal_range(signal, model) -> None:
    """Raise if no reflection of the model's phases can fall on the detector.

    Parameters
    ----------
    signal
        A pyxem ``Diffraction2D`` calibrated in 1/Å.
    model
        The model to map with.

    Raises
    ------
    ValueError
        If every phase's first reflections lie beyond the largest ``|k|``
        the detector reaches (naming both), which means a wrong calibration
        or a model for other phases.
    """
    reach = 0.0
    for axis in signal.axes_manager.signal_axes:
        ends = np.array([axis.axis[0], axis.axis[-1]])
        reach = max(reach, float(np.abs(ends).max()))
    scale, _ = reciprocal_calibration(signal)
    reach *= float(scale[0] / signal.axes_manager.signal_axes[0].scale)  # to 1/Å
    lowest = {}
    for phase in model.phases:
        for limit in (1.5, 3.0):  # the small search suffices but for huge cells
            radii = np.unique(
                np.round(
                    np.linalg.norm(reciprocal_lattice_points(phase, limit), axis=1), 4
                )
            )
            if len(radii) >= 3:
                break
        lowest[phase.name] = radii[:3]
    if all(len(r) < 3 or r[2] > reach for r in lowest.values()):
        first = ", ".join(
            f"{name} at {r[0]:.3f} 1/Å" if len(r) else f"{name}: none below 3 1/Å"
            for name, r in lowest.items()
        )
        raise ValueError(
            f"The detector reaches |k| = {reach:.3f} 1/Å, but the model's phases "
            f"have fewer than three reflections within it (first reflections: "
            f"{first}). Check the calibration (now {scale[0]:.5g} 1/Å per pixel) "
            "or use a model trained for the phases of this sample."
        )


def check_data_sample(patterns: np.ndarray) -> None:
    """Warn about data problems visible in a sample of patterns.

    Negative values (e.g. after background subtraction) and non-finite
    pixels do not stop the mapping: peaks are found on the finite, positive
    part, and patterns without peaks come out "not indexed". The warning
    says how much is affected so it is never silent.

    Parameters
    ----------
    patterns
        ``(n, rows, columns)`` sample of the data.
    """
    finite = np.isfinite(patterns)
    problems = []
    if not finite.all():
        problems.append(
            f"{1 - finite.mean():.1%} of the pixels are NaN or infinite (patterns "
            "with too few peaks left are marked not indexed)"
        )
    values = np.where(finite, patterns, 0)
    if (values < 0).any():
        problems.append(
            f"{(values < 0).mean():.1%} of the pixels are negative (a subtracted "
            "background or a signed detector offset; peaks are found above each "
            "pattern's own background, but an offset can hide weak spots)"
        )
    blank = ~values.reshape(len(values), -1).any(axis=1)
    if blank.any():
        problems.append(f"{blank.mean():.0%} of the sampled patterns are all zero")
    if problems:
        warnings.warn(
            "In a sample of the data: " + "; ".join(problems) + ".",
            DataWarning,
            stacklevel=3,
        )


def _tolerances(model) -> tuple[float, float]:
    """Scale error and centre offset (1/Å) the model absorbs.

    Two thirds of the trained scale range, as accuracy falls off towards its
    edge, and the trained centre offset.
    """
    augmentation = model.training_info.get("augmentation", {})
    scale = float(augmentation.get("scale_error", 0.03)) * 2 / 3
    return scale, float(augmentation.get("centre_offset", 0.01))


def calibration_for_mapping(
    signal, model, peak_kwargs: dict | None = None, correct: bool = True
) -> tuple[CalibrationCheck | None, bool]:
    """Check the calibration before mapping; warn, and correct where it is off.

    Where the scale or centre is further off than the model absorbs
    (:attr:`CalibrationCheck.within_tolerance`), a
    :class:`CalibrationWarning` is raised and, with ``correct`` and a
    :attr:`~CalibrationCheck.reliable` estimate, the map should be made with
    the estimated calibration (:meth:`CalibrationCheck.corrected`). The
    signal itself is never changed.

    Parameters
    ----------
    signal
        The pyxem ``Diffraction2D`` about to be mapped.
    model
        The model it will be mapped with.
    peak_kwargs
        Options of :func:`pyxem_transformer.peaks.find_peaks_batched`.
    correct
        Map with the estimate where the stored calibration is off.

    Returns
    -------
    check
        The check (None if it could not be made).
    use_estimate
        True if the map should use ``check.corrected(...)``.
    """
    try:
        check = check_calibration(signal, model, peak_kwargs=peak_kwargs)
    except ValueError as error:
        warnings.warn(
            f"Could not check the calibration: {error}", CalibrationWarning, 3
        )
        return None, False
    if check.within_tolerance:
        return check, False
    use_estimate = correct and check.reliable
    if use_estimate:
        action = (
            "Mapping with the estimated calibration instead (the signal is "
            "unchanged; `pyxem_transformer.check_calibration(s, model).apply(s)` "
            "corrects it). Pass `calibration_check='warn'` to map with the "
            "stored calibration"
        )
    elif correct:
        action = (
            "The estimate is too uncertain to map with: correct the calibration "
            "with `pyxem_transformer.check_calibration(s, model).apply(s)` (or "
            "`s.center_direct_beam()` for the centre)"
        )
    else:
        action = (
            "Correct it with `pyxem_transformer.check_calibration(s, model)"
            ".apply(s)` (or `s.center_direct_beam()` for the centre), pass "
            "`calibration_check=True` to map with the estimate"
        )
    warnings.warn(
        f"The signal's calibration looks off: {check}. The model tolerates "
        f"about ±{check.tolerance:.0%} in scale and {check.centre_tolerance} "
        f"1/Å of centre offset. {action}, or `calibration_check=False` if the "
        "calibration is known to be right.",
        CalibrationWarning,
        stacklevel=3,
    )
    return check, use_estimate
