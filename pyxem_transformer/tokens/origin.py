"""The token origin of each pattern: where its direct beam is.

Descan moves the direct beam by pixels across a scan, and a stored centre is
where the beam was at one corner, or nowhere. Tokens measured from the stored
centre then carry the shift, and a few pixels cost degrees. So each
pattern's beam is located among its own found peaks, sub-pixel, and every
token is measured from it:

1. the brightest peak within ``search_radius`` of the stored centre, if it is
   at least ``BEAM_DOMINANCE`` times as bright as the brightest peak outside
   (a beam is a pattern's strongest spot; see the module constant);
2. otherwise (a blocked or faint beam) the centre of the pattern's Friedel
   pairs: kinematic and dynamical spot patterns are centrosymmetric in
   position, so pairs of peaks whose midpoints agree mark the beam;
3. otherwise, where the patterns lie on a scan grid, a plane fitted to the
   other patterns' beams (a smooth descan), or the stored centre.

:func:`locate_beams` returns the beams; :func:`recentre` shifts the peaks.
"""

import numpy as np

from pyxem_transformer.peak_set import PeakSet

__all__ = ["BeamFinding", "locate_beams", "recentre"]

#: A central peak counts as the beam only if it is at least this many times
#: as bright as the brightest peak farther out: the direct beam of a thin or
#: thick sample holds 25-75% of the intensity, several times any reflection.
BEAM_DOMINANCE = 1.5
#: Friedel midpoints within this distance (1/Å) of each other agree.
FRIEDEL_TOLERANCE = 0.02
#: Fewest agreeing Friedel pairs that fix a centre.
FRIEDEL_PAIRS = 2
#: How the beam of each pattern was found (:attr:`BeamFinding.source`).
SOURCES = ("beam", "friedel", "descan fit", "stored centre")


class BeamFinding:
    """Beam positions of a batch of patterns and how each was found.

    Attributes
    ----------
    xy
        ``(n, 2)`` beam positions ``(kx, ky)`` in 1/Å in the stored frame.
    source
        ``(n,)`` int: index into :data:`SOURCES`.
    """

    def __init__(self, xy: np.ndarray, source: np.ndarray) -> None:
        self.xy, self.source = xy, source

    def fraction(self, source: str) -> float:
        """Fraction of patterns whose beam came from ``source``.

        Parameters
        ----------
        source
            One of :data:`SOURCES`.

        Returns
        -------
        fraction
            In [0, 1].
        """
        return float(np.mean(self.source == SOURCES.index(source)))


def locate_beams(
    peaks: PeakSet,
    search_radius: float,
    scan_shape: tuple[int, ...] | None = None,
) -> BeamFinding:
    """Locate each pattern's direct beam among its peaks.

    Parameters
    ----------
    peaks
        Found peaks in 1/Å, relative to the stored centre.
    search_radius
        Largest distance (1/Å) of the beam from the stored centre.
    scan_shape
        Navigation shape of the patterns (row-major), for the descan fit;
        None if they are not a grid.

    Returns
    -------
    beams
        A :class:`BeamFinding`.

    Examples
    --------
    >>> import numpy as np
    >>> from pyxem_transformer.peak_set import PeakSet
    >>> peaks = PeakSet.from_lists([np.array([[0.05, -0.02, 10.0],
    ...                                       [0.55, -0.02, 2.0],
    ...                                       [-0.45, -0.02, 2.0]])])
    >>> beams = locate_beams(peaks, search_radius=0.2)
    >>> np.round(beams.xy, 3).tolist(), beams.fraction("beam")
    ([[0.05, -0.02]], 1.0)
    """
    n = peaks.n_patterns
    xy = np.full((n, 2), np.nan)
    source = np.full(n, SOURCES.index("stored centre"))
    central = _central_beams(peaks, search_radius)
    found = np.isfinite(central[:, 0])
    xy[found], source[found] = central[found], SOURCES.index("beam")
    for i in np.flatnonzero(~found):
        centre = _friedel_centre(peaks.pattern(i), search_radius)
        if centre is not None:
            xy[i], source[i] = centre, SOURCES.index("friedel")
    missing = ~np.isfinite(xy[:, 0])
    if missing.any():
        xy[missing] = _descan_fit(xy, scan_shape)[missing]
        fitted = missing & np.isfinite(xy[:, 0])
        source[fitted] = SOURCES.index("descan fit")
        xy[~np.isfinite(xy[:, 0])] = 0.0
    return BeamFinding(xy, source)


def recentre(
    peaks: PeakSet, beams: np.ndarray, undistortion: np.ndarray | None = None
) -> PeakSet:
    """Measure every peak from its pattern's beam, undistorted.

    Parameters
    ----------
    peaks
        Peaks in 1/Å relative to the stored centre.
    beams
        ``(n, 2)`` beam positions from :func:`locate_beams`.
    undistortion
        A 2x2 map applied to each peak's position from its beam, e.g.
        :meth:`~pyxem_transformer.tokens.calibration.CalibrationCheck.undistortion`
        for elliptical lens distortion; None for none.

    Returns
    -------
    peaks
        The same peaks relative to each pattern's beam.
    """
    owner = peaks.pattern_index
    kx, ky = peaks.kx - beams[owner, 0], peaks.ky - beams[owner, 1]
    if undistortion is not None:
        (a, b), (c, d) = np.asarray(undistortion, float)
        kx, ky = a * kx + b * ky, c * kx + d * ky
    return PeakSet(
        kx.astype(np.float32), ky.astype(np.float32), peaks.intensity, peaks.offsets
    )


def _central_beams(peaks: PeakSet, radius: float) -> np.ndarray:
    """Each pattern's brightest central peak, where it dominates (else NaN)."""
    n = peaks.n_patterns
    out = np.full((n, 2), np.nan)
    if peaks.kx.size == 0:
        return out
    owner = peaks.pattern_index
    near = np.hypot(peaks.kx, peaks.ky) <= radius
    intensity = np.asarray(peaks.intensity, float)
    outer = np.zeros(n)
    np.maximum.at(outer, owner[~near], intensity[~near])
    # The brightest central peak of each pattern (first of equals).
    order = np.lexsort((-intensity, ~near, owner))
    first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
    first = first[near[first]]
    dominant = intensity[first] >= BEAM_DOMINANCE * outer[owner[first]]
    first = first[dominant]
    out[owner[first]] = np.stack([peaks.kx[first], peaks.ky[first]], 1)
    return out


def _friedel_centre(p: np.ndarray, radius: float) -> np.ndarray | None:
    """The centre most pairs of peaks are symmetric about, within ``radius``."""
    if len(p) < 2 * FRIEDEL_PAIRS:
        return None
    i, j = np.triu_indices(len(p), 1)
    mid = (p[i, :2] + p[j, :2]) / 2
    apart = np.hypot(*(p[i, :2] - p[j, :2]).T) > 2 * radius
    mid = mid[apart & (np.hypot(*mid.T) <= radius)]
    if len(mid) < FRIEDEL_PAIRS:
        return None
    close = np.hypot(*(mid[:, None] - mid[None]).transpose(2, 0, 1)) < FRIEDEL_TOLERANCE
    support = close.sum(1)
    best = int(np.argmax(support))
    if support[best] < FRIEDEL_PAIRS:
        return None
    return mid[close[best]].mean(0)


def _descan_fit(xy: np.ndarray, scan_shape) -> np.ndarray:
    """A plane through the found beams over the scan grid (NaN if none)."""
    n = len(xy)
    out = np.full((n, 2), np.nan)
    if scan_shape is None or int(np.prod(scan_shape)) != n:
        return out
    grid = np.indices(scan_shape).reshape(len(scan_shape), n).T.astype(float)
    design = np.column_stack([np.ones(n), grid])
    known = np.isfinite(xy[:, 0])
    if known.sum() < design.shape[1]:
        if known.any():
            out[:] = np.median(xy[known], axis=0)
        return out
    coef, *_ = np.linalg.lstsq(design[known], xy[known], rcond=None)
    return design @ coef
