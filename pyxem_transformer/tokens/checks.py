"""Checks made before mapping: the data, the detector's reach, and the
calibration against what the model tolerates."""

import warnings
from dataclasses import replace

import numpy as np

from pyxem_transformer._validation import (
    check_diffraction_signal,
    reciprocal_calibration,
)
from pyxem_transformer.crystal.reciprocal import reciprocal_lattice_points
from pyxem_transformer.tokens.calibration import (
    CalibrationCheck,
    CalibrationWarning,
    estimate_calibration,
)
from pyxem_transformer.tokens.peaks import find_peaks_batched

__all__ = [
    "DataWarning",
    "calibration_for_mapping",
    "check_calibration",
    "check_data_sample",
    "check_reciprocal_range",
]


class DataWarning(UserWarning):
    """The data holds values that need attention (NaN, negative, blank)."""


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
    signal,
    model,
    peak_kwargs: dict | None = None,
    correct: bool = True,
    centre: bool = True,
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
        Options of :func:`pyxem_transformer.tokens.peaks.find_peaks_batched`.
    correct
        Map with the estimate where the stored calibration is off.
    centre
        Judge the stored centre too. False where the mapping measures each
        pattern from its own beam (``find_beam``): only the scale matters.

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
    if check.within_tolerance or (
        not centre and abs(check.scale_error) <= check.tolerance
    ):
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
        Keyword arguments of :func:`pyxem_transformer.tokens.peaks.find_peaks_batched`.

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
