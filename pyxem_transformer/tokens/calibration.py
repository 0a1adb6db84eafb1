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

from dataclasses import dataclass

import numpy as np

from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.tokens._calibration_fit import (
    _beam_and_bragg,
    _ellipse,
    _RadiusFit,
    _stretch,
)

__all__ = [
    "CalibrationCheck",
    "CalibrationWarning",
    "estimate_calibration",
]


class CalibrationWarning(UserWarning):
    """The signal's calibration is further off than the model tolerates."""


#: Scale factors searched: calibration errors up to about 10% either way.
#: Wider ranges are ambiguous: cubic lattices have radius ratios of
#: 2/sqrt(3) = 1.155, and two phases' lattices can be scaled copies of each
#: other (Cu and Cu2O: 1.18).
SCALE_RANGE = (0.9, 1.11)
#: Below this many patterns with a beam, the check uses every Bragg peak of
#: each pattern (not only its ``strongest``): small scans (tests, tilt
#: series, a 2x2 scan) still give an estimate, with its uncertainty.
SMALL_SCAN = 64
#: Bragg peaks the check needs at the least.
MIN_PEAKS = 12
#: Matched peaks an estimate needs to be :attr:`CalibrationCheck.reliable`.
RELIABLE_PEAKS = 20
#: Smallest ellipticity corrected (radii 1% long and short, a 2% stretch):
#: smaller ones the fit's own distortion term absorbs. A few tilted grains
#: mimic an ellipse (their reflections off the Ewald sphere project shorter
#: along the tilt): simulated Cu scans of 6-10 grains showed 0.5-1.3% where
#: there is none, which correcting would make worse.
ELLIPTICITY_FLOOR = 0.01
#: Standard errors (jackknife over bands of patterns) an ellipticity must
#: exceed to be corrected.
ELLIPTICITY_SIGMAS = 6.0
#: Largest ellipticity believed (radii 4% long and short, beyond the 1-5%
#: stretch of projector lenses): more means a misfit, not a lens.
ELLIPTICITY_MAX = 0.04
#: Rounds of matching peaks to radii and fitting the ellipse: each round's
#: correction lets the outer peaks of a strong ellipse match in the next.
ELLIPSE_ROUNDS = 5
#: Reflections out to this radius (1/Å) measure the ellipse.
ELLIPSE_RADIUS = 0.9
#: Bands of the sampled patterns left out in turn to judge the ellipse's
#: uncertainty (jackknife).
ELLIPSE_BANDS = 8


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
    ellipticity
        Elliptical lens distortion: peak radii vary with azimuth ``phi`` as
        ``1 + ellipticity * cos(2 (phi - axis))`` (0.015: radii 1.5% long
        along the axis and 1.5% short across it).
    ellipticity_axis
        The long axis, in degrees from ``kx`` towards ``ky``.
    ellipticity_uncertainty
        Standard error of ``ellipticity``.
    """

    scale: float
    scale_uncertainty: float
    centre_offset: tuple[float, float]
    centre_uncertainty: float
    n_patterns: int
    n_peaks: int
    tolerance: float = 0.02
    centre_tolerance: float = 0.01
    ellipticity: float = 0.0
    ellipticity_axis: float = 0.0
    ellipticity_uncertainty: float = 0.0

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
            f"ellipticity {self.ellipticity:.2%} ± {self.ellipticity_uncertainty:.2%} "
            f"along {self.ellipticity_axis:.0f}°, "
            f"from {self.n_peaks} peaks in {self.n_patterns} patterns"
        )

    @property
    def significant_ellipticity(self) -> bool:
        """True if the ellipticity is at least ``ELLIPTICITY_FLOOR`` and
        ``ELLIPTICITY_SIGMAS`` standard errors, and at most
        ``ELLIPTICITY_MAX``: worth correcting."""
        return (
            ELLIPTICITY_FLOOR <= self.ellipticity <= ELLIPTICITY_MAX
            and self.ellipticity >= ELLIPTICITY_SIGMAS * self.ellipticity_uncertainty
        )

    def undistortion(self) -> np.ndarray:
        """The 2x2 map that takes measured ``(kx, ky)`` to undistorted ones.

        Returns
        -------
        matrix
            Inverse of ``I + e (u u^T - v v^T)``, ``u`` along the long axis,
            ``v`` across it (identity where the ellipticity is not
            :attr:`significant_ellipticity`).
        """
        if not self.significant_ellipticity:
            return np.eye(2)
        angle = np.radians(self.ellipticity_axis)
        u = np.array([np.cos(angle), np.sin(angle)])
        v = np.array([-u[1], u[0]])
        e = self.ellipticity
        return np.linalg.inv(np.eye(2) + e * (np.outer(u, u) - np.outer(v, v)))

    @property
    def reliable(self) -> bool:
        """True if the estimate is precise enough to map with.

        Its scale uncertainty is below a quarter of the tolerance and its
        centre uncertainty below half the centre tolerance, from at least
        ``RELIABLE_PEAKS`` matched peaks.
        """
        return (
            self.n_peaks >= RELIABLE_PEAKS
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


def estimate_calibration(
    peaks: PeakSet,
    phases,
    *,
    direct_beam_radius: float = 0.15,
    max_radius: float = 1.5,
    tolerance: float = 0.02,
    strongest: int | None = None,
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
        Bragg peaks used per pattern, the most intense first (low orders,
        where lattice radii are sparse). None (default): 8, or every peak
        where fewer than ``SMALL_SCAN`` patterns show a beam.

    Returns
    -------
    check
        A :class:`CalibrationCheck`.

    Raises
    ------
    ValueError
        If too few peaks are found to estimate anything.
    """
    if strongest is None:
        many = _beam_and_bragg(peaks, direct_beam_radius, 1)[0].shape[0] >= SMALL_SCAN
        strongest = 8 if many else int(peaks.counts.max(initial=0))
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
    if radius.size < MIN_PEAKS:
        raise ValueError(
            f"Only {radius.size} Bragg peaks were found in the sampled patterns; "
            "too few to check the calibration. Lower the peak threshold or "
            "sample more patterns."
        )
    top = max_radius * SCALE_RANGE[1] + 0.1
    fit = _RadiusFit(radius, weight, owner, len(centres), phases, top)
    factor = fit.polish(fit.search(np.arange(*SCALE_RANGE, 0.0005)))
    azimuth = np.arctan2(vectors[keep, 1], vectors[keep, 0])
    factor, ellipse, ellipse_error = _scale_and_ellipse(
        fit, factor, radius, weight, azimuth
    )
    nearest, residual = fit.match(factor)
    good = np.abs(residual) < 2 * fit.width
    if weight[good].sum() < MIN_PEAKS * 1e-6 or good.sum() < MIN_PEAKS:
        raise ValueError(
            f"Only {int(good.sum())} of {radius.size} Bragg peaks match the "
            "phases' lattice radii; check the phases, or that the signal is "
            "calibrated in 1/Å."
        )
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
        ellipticity=float(np.hypot(*ellipse)),
        ellipticity_axis=float(np.degrees(np.arctan2(ellipse[1], ellipse[0]) / 2)),
        ellipticity_uncertainty=ellipse_error,
    )


def _scale_and_ellipse(fit, factor, radius, weight, azimuth):
    """Alternately fit the elliptical lens distortion to the matched peaks'
    radius ratios and the scale to the radii with it undone."""
    ellipse, ellipse_error = np.zeros(2), float("inf")
    for _ in range(ELLIPSE_ROUNDS):  # lens distortion, then the scale without it
        nearest, residual = fit.match(factor)
        # Low orders only: there the radii are sparse and a stretched peak
        # cannot meet the wrong one.
        good = (np.abs(residual) < 2 * fit.width) & (nearest < ELLIPSE_RADIUS)
        ellipse, ellipse_error = _ellipse(
            azimuth[good],
            radius[good] * factor / nearest[good] - 1,
            weight[good],
            nearest[good],
        )
        fit.radius = radius / _stretch(ellipse, azimuth)
        factor = fit.polish(factor)
    # The fit's own error counts each peak as independent; the patterns of one
    # grain share their errors. A jackknife over bands of the sampled
    # patterns (grains are contiguous) sees that.
    nearest, residual = fit.match(factor)
    good = (np.abs(residual) < 2 * fit.width) & (nearest < ELLIPSE_RADIUS)
    band = fit.owner * ELLIPSE_BANDS // max(fit.n_patterns, 1)
    parts = []
    for b in range(ELLIPSE_BANDS):
        rest = good & (band != b)
        parts.append(
            _ellipse(
                azimuth[rest],
                radius[rest] * factor / nearest[rest] - 1,
                weight[rest],
                nearest[rest],
            )[0]
        )
    parts = np.array(parts)
    k = len(parts)
    spread = np.sqrt((k - 1) / k * ((parts - parts.mean(0)) ** 2).sum(0))
    return factor, ellipse, max(ellipse_error, float(spread.max()))
