"""Compiled kernels of the batched peak finder (:mod:`.peaks`)."""

import numba
import numpy as np

#: Every this many pixels sets the ring thresholds (a 128x128 pattern gives
#: over 16 samples in each ring from 8 px out).
RADIAL_STRIDE = 4


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


@numba.njit(cache=True, nogil=True)
def _radial_thresholds(img, raw, factor, threshold_sigma, ring_of, shot, stride):
    """Threshold per ring about the brightest pixel ``(ci, cj)``: the ring's
    clipped mean of the smoothed image plus ``threshold_sigma`` times its
    noise, from every ``stride``-th pixel. ``ring_of[d2]`` is the ring of a
    pixel at squared distance ``d2``. Returns the thresholds, ci, cj.

    The noise is the clipped spread of raw minus smoothed, scaled by
    ``factor``, and for electron counts (``shot > 0``) at least the shot
    noise of the ring's level, ``sqrt(level * quantum * shot)``: on sparse
    counts (a fraction of an electron per pixel) clipping removes every
    lit pixel and the spread collapses.
    """
    rows, cols = img.shape
    flat, flat_raw = img.ravel(), raw.ravel()
    best = np.argmax(flat)
    ci, cj = best // cols, best % cols
    n = (rows * cols + stride - 1) // stride
    ring = np.empty(n, np.int64)
    n_rings = 0
    quantum = np.inf
    for k in range(n):
        i, j = (k * stride) // cols, (k * stride) % cols
        r = ring_of[(i - ci) ** 2 + (j - cj) ** 2]
        ring[k] = r
        n_rings = max(n_rings, r + 1)
        if shot > 0 and flat_raw[k * stride] > 0:
            quantum = min(quantum, flat_raw[k * stride])
    starts = np.zeros(n_rings + 1, np.int64)
    for r in ring:
        starts[r + 1] += 1
    starts = np.cumsum(starts)
    level = np.empty(n, np.float32)
    residual = np.empty(n, np.float32)
    fill = starts[:-1].copy()
    for k in range(n):
        r = ring[k]
        level[fill[r]] = flat[k * stride]
        residual[fill[r]] = flat_raw[k * stride] - flat[k * stride]
        fill[r] += 1
    thresholds = np.empty(n_rings, np.float32)
    for r in range(n_rings):
        a, b = starts[r], starts[r + 1]
        if b - a < 16:
            thresholds[r] = np.inf if r == 0 else thresholds[r - 1]
            continue
        mean = _clipped_stats(level[a:b])[0]
        noise = _clipped_stats(residual[a:b])[1] * factor
        if shot > 0 and quantum < np.inf:
            noise = max(noise, np.sqrt(max(mean, 0.0) * quantum * shot))
        thresholds[r] = mean + threshold_sigma * noise
    return thresholds, ci, cj


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
    radial_bin_px,
    radial_inner_px,
    radial_sigma,
    out,
    counts,
):
    radial = radial_bin_px > 0
    # The ring of each integer squared distance, shared by all patterns.
    ring_of = np.empty((images.shape[1] ** 2 + images.shape[2] ** 2) + 1, np.int64)
    for d2 in range(ring_of.size):
        ring_of[d2] = int(np.sqrt(d2) / radial_bin_px) if radial else 0
    inner2 = radial_inner_px**2
    n, rows, cols = images.shape
    stride = max(1, (rows * cols) // 2048)
    n_samples = (rows * cols + stride - 1) // stride
    for p in numba.prange(n):
        image = images[p]
        if not _all_finite(image):  # rare: clean a copy, never the input
            image = np.where(np.isfinite(image), image, np.float32(0.0))
        smoothing, factor, shot = kernel, noise_factor, 0.0
        counted = False
        if counting_kernel.size > 0 or radial:
            counted = _is_counted(image, stride, counting_singles)
        if counting_kernel.size and counted:
            smoothing, factor = counting_kernel, counting_noise_factor
        if counted and radial:
            shot = (smoothing**2).sum() ** 2
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
        # Diffuse backgrounds fall off from the beam and an amorphous ring
        # is round: outside the beam, each ring of pixels about the brightest
        # one sets its own threshold from its own level and noise.
        if radial:
            ring_thresholds, ci, cj = _radial_thresholds(
                img, image, factor, radial_sigma, ring_of, shot, RADIAL_STRIDE
            )
        count = 0
        weakest = 0
        for i in range(1, rows - 1):
            for j in range(1, cols - 1):
                v = img[i, j]
                if v <= threshold:
                    continue
                if radial:
                    d2 = (i - ci) ** 2 + (j - cj) ** 2
                    r = min(ring_of[d2], ring_thresholds.size - 1)
                    if d2 >= inner2 and v <= ring_thresholds[r]:
                        continue
                if not _is_local_max(img, i, j, v, min_distance):
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
