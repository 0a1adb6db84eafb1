"""Bragg-disk peaks as flat arrays, from images, pyxem vectors or simulations.

All peak sets in this package share one layout, :class:`PeakSet`: flat
arrays of every peak in a batch of patterns, in 1/Å relative to the direct
beam in the detector frame (``kx`` along columns, ``ky`` along rows, the
frame of a pyxem ``Diffraction2D``'s signal axes), plus an ``offsets``
array giving each pattern's slice. Tokens are made from a ``PeakSet`` by
:func:`pyxem_transformer.tokens.make_tokens`, whatever the peaks came from.
"""

from dataclasses import dataclass

import numba
import numpy as np

__all__ = [
    "PeakSet",
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


@dataclass
class PeakSet:
    """Peaks of a batch of patterns, flat, with per-pattern offsets.

    Attributes
    ----------
    kx, ky
        Positions in 1/Å relative to the direct beam (detector frame).
    intensity
        Peak intensities (any scale; tokens normalise per pattern).
    offsets
        ``(n_patterns + 1,)`` int64; pattern ``i`` owns
        ``slice(offsets[i], offsets[i + 1])``.
    """

    kx: np.ndarray
    ky: np.ndarray
    intensity: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        self.kx = np.asarray(self.kx, dtype=np.float32).reshape(-1)
        self.ky = np.asarray(self.ky, dtype=np.float32).reshape(-1)
        self.intensity = np.asarray(self.intensity, dtype=np.float32).reshape(-1)
        self.offsets = np.asarray(self.offsets, dtype=np.int64).reshape(-1)
        n = self.kx.size
        if not (self.ky.size == n and self.intensity.size == n):
            raise ValueError("kx, ky and intensity must have the same length.")
        if (
            self.offsets.size < 1
            or self.offsets[0] != 0
            or self.offsets[-1] != n
            or np.any(np.diff(self.offsets) < 0)
        ):
            raise ValueError(
                "offsets must start at 0, never decrease and end at the number "
                "of peaks."
            )

    @property
    def n_patterns(self) -> int:
        """Number of patterns."""
        return self.offsets.size - 1

    @property
    def counts(self) -> np.ndarray:
        """Number of peaks in each pattern."""
        return np.diff(self.offsets)

    @property
    def pattern_index(self) -> np.ndarray:
        """Pattern index of every peak."""
        return np.repeat(np.arange(self.n_patterns), self.counts)

    def pattern(self, i: int) -> np.ndarray:
        """Return the peaks of pattern ``i`` as ``(n, 3)``: kx, ky, intensity.

        Parameters
        ----------
        i
            Pattern index.

        Returns
        -------
        peaks
            Array of shape ``(n, 3)``.
        """
        sl = slice(self.offsets[i], self.offsets[i + 1])
        return np.stack([self.kx[sl], self.ky[sl], self.intensity[sl]], axis=1)

    def take(self, indices: np.ndarray) -> "PeakSet":
        """Return the peak set of the patterns ``indices`` (in that order).

        Parameters
        ----------
        indices
            Pattern indices.

        Returns
        -------
        peaks
            A new peak set.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        counts = self.counts[indices]
        starts = self.offsets[indices]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        # Position of every selected peak in the flat arrays.
        flat = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
        return PeakSet(self.kx[flat], self.ky[flat], self.intensity[flat], offsets)

    @classmethod
    def from_lists(cls, peaks: list[np.ndarray]) -> "PeakSet":
        """Build from a list of ``(n_i, 3)`` arrays of kx, ky, intensity."""
        counts = [len(p) for p in peaks]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        stacked = (
            np.concatenate(
                [np.asarray(p, dtype=np.float32).reshape(-1, 3) for p in peaks]
            )
            if sum(counts)
            else np.zeros((0, 3), np.float32)
        )
        return cls(stacked[:, 0], stacked[:, 1], stacked[:, 2], offsets)

    @classmethod
    def concatenate(cls, sets: list["PeakSet"]) -> "PeakSet":
        """Join peak sets of consecutive batches."""
        offsets = [np.zeros(1, np.int64)]
        start = 0
        for s in sets:
            offsets.append(s.offsets[1:] + start)
            start += s.kx.size
        return cls(
            np.concatenate([s.kx for s in sets]),
            np.concatenate([s.ky for s in sets]),
            np.concatenate([s.intensity for s in sets]),
            np.concatenate(offsets),
        )


@numba.njit(cache=True, nogil=True, fastmath=True)
def _smooth_into(image, kernel, tmp, out) -> None:
    """Separable convolution into ``out`` with edge replication.

    Loops run over taps outside and pixels inside, so the inner loops are
    contiguous and vectorise; only the edge columns clamp their indices.
    """
    rows, cols = image.shape
    size = kernel.size
    r = size // 2
    inner = cols - 2 * r
    for i in range(rows):
        row, acc = image[i], tmp[i]
        acc[:] = 0.0
        for t in range(size):
            k = kernel[t]
            # Indices offset from a loop variable that starts at 0: numba
            # then drops its negative-index checks and the loop vectorises
            # (four times faster than ``row[j + t - r]``).
            for j in range(inner):
                acc[j + r] += k * row[j + t]
        for j in range(cols):
            if r <= j < cols - r:
                continue
            total = np.float32(0.0)
            for t in range(size):
                total += kernel[t] * row[min(max(j + t - r, 0), cols - 1)]
            acc[j] = total
    for i in range(rows):
        acc = out[i]
        acc[:] = 0.0
        for t in range(size):
            k = kernel[t]
            source = tmp[min(max(i + t - r, 0), rows - 1)]
            for j in range(cols):
                acc[j] += k * source[j]


@numba.njit(cache=True, nogil=True)
def _vertex(a: float, b: float, c: float) -> float:
    a, b, c = np.log(max(a, 1e-12)), np.log(max(b, 1e-12)), np.log(max(c, 1e-12))
    curvature = a - 2.0 * b + c
    if curvature >= 0.0:
        return 0.0
    return min(0.5, max(-0.5, 0.5 * (a - c) / curvature))


@numba.njit(cache=True, nogil=True, fastmath=True)
def _clipped_stats(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation, 3-sigma clipped four times.

    Branch-free sums over the (contiguous) values: which values are kept
    is data-dependent, and branches on it would be mispredicted.
    """
    n = values.size
    mean = values.sum() / n
    std = np.sqrt(((values - mean) ** 2).sum() / n)
    for _ in range(4):
        limit = 3.0 * std
        total, kept = 0.0, 0.0
        for k in range(n):
            inside = abs(values[k] - mean) <= limit
            total += values[k] * inside
            kept += inside
        if kept < 16:
            break
        new_mean = total / kept
        spread = 0.0
        for k in range(n):
            inside = abs(values[k] - mean) <= limit
            spread += (values[k] - new_mean) ** 2 * inside
        mean, std = new_mean, np.sqrt(spread / kept)
    return mean, std


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _all_finite(image: np.ndarray) -> bool:
    # A float64 sum of float32 pixels is finite exactly when every pixel is
    # (it cannot overflow); one vectorised pass, no temporary array. Only
    # reassociation is allowed: full fastmath would assume no NaN.
    total = 0.0
    for value in image.ravel():
        total += value
    return np.isfinite(total)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _max(image: np.ndarray) -> float:
    # Of an image without NaN: fastmath lets the reduction vectorise
    # (numpy's NaN-aware ``max`` in numba does not).
    flat = image.ravel()
    peak = flat[0]
    for value in flat:
        peak = max(peak, value)
    return peak


@numba.njit(cache=True, nogil=True)  # no fastmath: it compares with inf
def _counted_in(flat: np.ndarray, stride: int, singles_fraction: float) -> int:
    # 1: counts, 0: not, -1: no lit pixel among every ``stride``-th.
    quantum, lowest = np.inf, np.inf
    for k in range(0, flat.size, stride):
        value = flat[k]
        quantum = min(quantum, value if value > 0 else np.inf)
        lowest = min(lowest, value)
    if lowest < 0:  # an offset or subtracted background: not plain counts
        return 0
    if quantum == np.inf:
        return -1
    lit, singles = 0, 0
    for k in range(0, flat.size, stride):
        value = flat[k]
        lit += value > 0
        singles += value == quantum
    return 1 if singles >= singles_fraction * lit else 0


@numba.njit(cache=True, nogil=True)
def _is_counted(image: np.ndarray, stride: int, singles_fraction: float) -> bool:
    """True if at least ``singles_fraction`` of the lit pixels hold the
    smallest positive value and none is negative: electron counts, at any
    gain or dtype.

    Judged on every ``stride``-th pixel, or on all where none of those is lit.
    """
    flat = image.ravel()
    verdict = _counted_in(flat, stride, singles_fraction)
    if verdict < 0:
        verdict = _counted_in(flat, 1, singles_fraction)
    return verdict == 1


@numba.njit(cache=True, nogil=True)
def _is_local_max(img, i, j, v, min_distance) -> bool:
    """True if no pixel within ``min_distance`` beats ``(i, j)``.

    Ties go to the first pixel in raster order. The four neighbours are
    checked first: almost every pixel that is not a peak fails there.
    """
    rows, cols = img.shape
    if img[i - 1, j] >= v or img[i, j - 1] >= v:
        return False
    if img[i + 1, j] > v or img[i, j + 1] > v:
        return False
    for ii in range(max(0, i - min_distance), min(rows, i + min_distance + 1)):
        for jj in range(max(0, j - min_distance), min(cols, j + min_distance + 1)):
            w = img[ii, jj]
            if w > v or (w == v and (ii < i or (ii == i and jj < j))):
                return False
    return True


@numba.njit(parallel=True, cache=True, nogil=True)
def _find_peaks_kernel(
    images,
    kernel,
    noise_factor,
    counting_kernel,
    counting_noise_factor,
    counting_singles,
    min_distance,
    threshold_sigma,
    threshold_rel,
    max_peaks,
    out,
    counts,
):
    n, rows, cols = images.shape
    stride = max(1, (rows * cols) // 2048)
    n_samples = (rows * cols + stride - 1) // stride
    for p in numba.prange(n):
        image = images[p]
        if not _all_finite(image):  # rare: clean a copy, never the input
            image = np.where(np.isfinite(image), image, np.float32(0.0))
        smoothing, factor = kernel, noise_factor
        if counting_kernel.size and _is_counted(image, stride, counting_singles):
            smoothing, factor = counting_kernel, counting_noise_factor
        if smoothing.size > 1:
            img = np.empty((rows, cols), np.float32)
            _smooth_into(image, smoothing, np.empty((rows, cols), np.float32), img)
        else:
            img = image
        flat, raw = img.ravel(), image.ravel()
        peak_max = _max(img)
        if not peak_max > 0:
            counts[p] = 0
            continue
        # Background level: sigma-clipped mean of a regular pixel sample.
        # Noise: sigma-clipped std of the raw-minus-smoothed residual, scaled
        # to the smoothed image. Bright disks are clipped out of both, and
        # neither collapses to zero on sparse Poisson counts (unlike a MAD).
        sample = np.empty(n_samples, np.float32)
        residual = np.empty(n_samples, np.float32)
        for k in range(n_samples):
            sample[k] = flat[k * stride]
            residual[k] = raw[k * stride] - sample[k]
        level = _clipped_stats(sample)[0]
        noise = _clipped_stats(residual)[1] * factor
        threshold = max(level + threshold_sigma * noise, threshold_rel * peak_max)
        count = 0
        weakest = 0
        for i in range(1, rows - 1):
            for j in range(1, cols - 1):
                v = img[i, j]
                if v <= threshold or not _is_local_max(img, i, j, v, min_distance):
                    continue
                dx = _vertex(img[i, j - 1], v, img[i, j + 1])
                dy = _vertex(img[i - 1, j], v, img[i + 1, j])
                if count < max_peaks:
                    slot = count
                    count += 1
                elif v > out[p, weakest, 2]:
                    slot = weakest
                else:
                    continue
                out[p, slot, 0] = j + dx
                out[p, slot, 1] = i + dy
                out[p, slot, 2] = v
                if count == max_peaks:
                    weakest = 0
                    for k in range(1, max_peaks):
                        if out[p, k, 2] < out[p, weakest, 2]:
                            weakest = k
        counts[p] = count


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

    Returns
    -------
    peaks
        A :class:`PeakSet`; patterns with no peak (all zero, NaN) have none.

    Examples
    --------
    >>> import numpy as np
    >>> from pyxem_transformer.peaks import find_peaks_batched
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
