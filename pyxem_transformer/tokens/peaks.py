"""Bragg-disk peaks found in images or read from pyxem vectors.

Both give a :class:`~pyxem_transformer.peak_set.PeakSet`, the layout that
simulated spot lists share, so :func:`pyxem_transformer.tokens.make_tokens`
treats peaks alike whatever they came from.
"""

import numpy as np

from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.tokens._peak_kernels import _find_peaks_kernel

__all__ = [
    "find_peaks_batched",
    "peaks_from_diffraction_vectors",
]

#: Smoothing (pixels) of ``smooth_sigma="auto"`` for patterns that are not
#: electron counts (noise-free, integrating detectors): keeps peak positions
#: exact where disks of different strength lie close together.
SMOOTH_SIGMA = 1.0
#: Smoothing (pixels) of ``smooth_sigma="auto"`` for counted patterns: there a
#: weak disk is a few electrons scattered over its area, and 1 pixel of
#: smoothing makes each its own peak at that electron's position. At the
#: disk's scale they merge into one peak at their centroid. On the
#: benchmark's samples (disks of sigma 2 px) of Cu, Ti and Cu + Cu2O, 2 px
#: gave more pixels under 2° than 1 px at 300 and 30,000 electrons per
#: pattern, and at 3000 but for two Cu + Cu2O samples (1 point fewer);
#: hand-run checks, docs/benchmark.md.
COUNTING_SMOOTH_SIGMA = 2.0
#: A pattern counts as electron counts when at least this fraction of its
#: lit pixels hold its smallest positive value (one electron). Simulated
#: counts gave 0.2 to 0.7 from 100,000 down to 300 electrons per pattern;
#: noise-free and other continuous data give about 0.
COUNTING_SINGLES = 0.1
#: Width (pixels) of the rings about the beam whose own background sets the
#: threshold with ``background="radial"``.
RADIAL_BIN_PX = 2.0
#: Within this distance (pixels) of the beam the pattern-wide threshold
#: alone applies: there the beam's own disk fills the rings.
RADIAL_INNER_PX = 8.0
#: Noise standard deviations above its ring's level a peak must reach (on
#: top of the pattern-wide threshold). 3 kept Ti's weak reflections at 3000
#: e/pattern (5 cost 5 points under 2°) and still left about 3 of the 18
#: background peaks of the measured-data tier's Cu patterns (hand-run); 2.5
#: keeps clean Ti at 300 e/pattern within 1.3 points of the flat threshold
#: under 5° (3 cost 2.1) for under a point on the measured tier (five and
#: two samples, docs/benchmark.md).
RADIAL_SIGMA = 2.5


def _gaussian_kernel(sigma: float | None) -> np.ndarray:
    if not sigma:
        return np.ones(1, np.float32)
    radius = max(1, int(np.ceil(2 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


def _noise_factor(kernel: np.ndarray) -> float:
    """Ratio of white-noise std in the smoothed image to that in the residual."""
    if kernel.size == 1:
        return 1.0
    k2 = np.outer(kernel, kernel)
    sum_sq = float((k2**2).sum())
    centre = float(k2[kernel.size // 2, kernel.size // 2])
    return float(np.sqrt(sum_sq / (1.0 - 2.0 * centre + sum_sq)))


def find_peaks_batched(
    patterns: np.ndarray,
    scale: tuple[float, float],
    offset: tuple[float, float],
    *,
    min_distance: int = 3,
    threshold_sigma: float = 5.0,
    threshold_rel: float = 0.0005,
    smooth_sigma: float | str | None = "auto",
    max_peaks: int = 128,
    background: str = "radial",
) -> PeakSet:
    """Find Bragg disks in a batch of patterns at once, with sub-pixel positions.

    A peak is a pixel that is the maximum of its ``(2 * min_distance + 1)``
    square neighbourhood and exceeds a threshold set per pattern from its
    own noise: ``level + threshold_sigma * noise``, with the background
    level and the noise (from the image minus its smoothed version) both
    sigma-clipped on a regular sample of pixels so bright disks do not
    count, and at least ``threshold_rel`` times the
    pattern's maximum. The same defaults thus work for counts, uint16 and
    float patterns. Positions are refined by a parabola through the
    logarithm of the 3-pixel profiles along x and y (exact for Gaussian
    disks). Compiled with numba and run in parallel over patterns.

    Parameters
    ----------
    patterns
        ``(n, rows, columns)`` images; NaN and infinite pixels count as 0.
    scale, offset
        Signal-axis calibration ``(x, y)`` in 1/Å: the peak at column ``c``
        and row ``r`` is at ``kx = offset[0] + c * scale[0]``,
        ``ky = offset[1] + r * scale[1]``.
    min_distance
        Minimum separation of peaks in pixels.
    threshold_sigma
        Threshold in noise standard deviations above the background.
    threshold_rel
        Minimum peak value as a fraction of the pattern's maximum (the
        direct beam, usually). The weak reflections it lets through fix
        the tilt: on the benchmark's noise-free Ti sample 0.0005 took the
        fraction under 2° from 93% (0.002) to 100%.
    smooth_sigma
        Gaussian smoothing (pixels) before the search; None for none. The
        reported intensity is the smoothed peak value. ``"auto"`` smooths
        each pattern that holds electron counts (no negative pixel, and at
        least ``COUNTING_SINGLES`` of its lit pixels hold its smallest
        positive value) by ``COUNTING_SMOOTH_SIGMA`` and any other by
        ``SMOOTH_SIGMA``; set a number for disks much larger than 2 pixels.
    max_peaks
        At most this many peaks (the strongest) are kept per pattern.
    background
        ``"radial"`` (default): beyond ``RADIAL_INNER_PX`` of the brightest
        pixel (the direct beam), a peak must also clear the threshold of its
        own ring of pixels about it (``RADIAL_BIN_PX`` wide): that ring's
        level plus ``RADIAL_SIGMA`` times its noise, both sigma-clipped
        (for electron counts, at least the ring's shot noise).
        A diffuse background that falls off from the beam, and an amorphous
        ring, then give no peaks, where a threshold set by the whole
        pattern's noise finds their bumps. ``"flat"``: the pattern-wide
        threshold alone.

    Returns
    -------
    peaks
        A :class:`PeakSet`; patterns with no peak (all zero, NaN) have none.

    Examples
    --------
    >>> import numpy as np
    >>> from pyxem_transformer.tokens.peaks import find_peaks_batched
    >>> image = np.zeros((1, 32, 32), np.float32)
    >>> image[0, 10, 20] = 1.0
    >>> p = find_peaks_batched(image, (0.1, 0.1), (-1.6, -1.6), smooth_sigma=None)
    >>> p.counts, round(float(p.kx[0]), 4), round(float(p.ky[0]), 4)
    (array([1]), 0.4, -0.6)
    """
    images = np.ascontiguousarray(patterns, dtype=np.float32)  # no copy if float32
    if images.ndim != 3:
        raise ValueError(
            f"Expected patterns of shape (n, rows, columns), got {images.shape}."
        )
    if min(images.shape[1:]) < 3:
        raise ValueError(f"Patterns of {images.shape[1:]} pixels are too small.")
    if background not in ("radial", "flat"):
        raise ValueError(
            f"`background` must be 'radial' or 'flat', got {background!r}."
        )
    if int(min_distance) < 1 or int(max_peaks) < 1:
        raise ValueError("`min_distance` and `max_peaks` must be at least 1.")
    if smooth_sigma == "auto":
        kernel = _gaussian_kernel(SMOOTH_SIGMA)
        counting = _gaussian_kernel(COUNTING_SMOOTH_SIGMA)
    elif smooth_sigma is None or (
        not isinstance(smooth_sigma, str) and float(smooth_sigma) >= 0
    ):
        kernel, counting = _gaussian_kernel(smooth_sigma), np.zeros(0, np.float32)
    else:
        raise ValueError(
            f"`smooth_sigma` must be 'auto', None or a number of pixels >= 0, "
            f"got {smooth_sigma!r}."
        )
    n = images.shape[0]
    out = np.zeros((n, int(max_peaks), 3), np.float32)
    counts = np.zeros(n, np.int64)
    _find_peaks_kernel(
        images,
        kernel,
        _noise_factor(kernel),
        counting,
        _noise_factor(counting) if counting.size else 1.0,
        COUNTING_SINGLES,
        int(min_distance),
        float(threshold_sigma),
        float(threshold_rel),
        int(max_peaks),
        RADIAL_BIN_PX if background == "radial" else 0.0,
        RADIAL_INNER_PX,
        RADIAL_SIGMA,
        out,
        counts,
    )
    valid = np.arange(out.shape[1])[None, :] < counts[:, None]
    found = out[valid]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return PeakSet(
        kx=offset[0] + found[:, 0] * scale[0],
        ky=offset[1] + found[:, 1] * scale[1],
        intensity=found[:, 2],
        offsets=offsets,
    )


def peaks_from_diffraction_vectors(vectors) -> PeakSet:
    """Convert pyxem ``DiffractionVectors`` into a :class:`PeakSet`.

    Parameters
    ----------
    vectors
        pyxem ``DiffractionVectors`` (ragged, columns ``ky, kx, intensity``
        in 1/Å relative to the direct beam), e.g. from
        ``s.get_diffraction_vectors(...)``. Without an intensity column all
        peaks get intensity 1.

    Returns
    -------
    peaks
        One pattern per navigation pixel, in row-major (array) order.
    """
    names = list(getattr(vectors, "column_names", None) or [])
    data = np.asarray(vectors.data)
    if data.dtype != object:
        raise ValueError(
            "Expected ragged pyxem DiffractionVectors (one array of peaks per "
            "pixel), e.g. from `s.get_diffraction_vectors()`."
        )
    try:
        ix, iy = names.index("kx"), names.index("ky")
    except ValueError:
        raise ValueError(
            f"DiffractionVectors need 'kx' and 'ky' columns, got {names}."
        ) from None
    ii = names.index("intensity") if "intensity" in names else None
    peaks = []
    for v in data.reshape(-1):
        v = np.asarray(v, dtype=np.float32).reshape(-1, len(names))
        intensity = v[:, ii] if ii is not None else np.ones(len(v), np.float32)
        peaks.append(np.stack([v[:, ix], v[:, iy], intensity], axis=1))
    return PeakSet.from_lists(peaks)
