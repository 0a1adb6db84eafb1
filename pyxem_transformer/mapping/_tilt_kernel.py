"""The compiled CPU kernel of :func:`pyxem_transformer.mapping.tilt.search_tilt`.

One pattern per thread; every intermediate of a pattern (its candidate
lattice points, which of them are seen) stays in cache. All arithmetic is
float64.

A tilt of a few degrees moves a reflection's excitation error by up to
several hundredths of 1/Å, but its spot on the detector by under 0.02 1/Å
(its height above the zero-order plane times the tilt): which peak sees
which reflection, and which reflections fall in the field, are decided once
at the start, and each tilt only recomputes the excitation errors.
"""

import numba
import numpy as np

from pyxem_transformer.mapping._fit_kernel import _project, _rodrigues


@numba.njit(cache=True, nogil=True)
def _lerp(table: np.ndarray, d: int, o: int, k: int, f: float) -> float:
    """``table[d, o]`` interpolated between knots ``k`` and ``k + 1``."""
    return table[d, o, k] * (1.0 - f) + table[d, o, k + 1] * f


@numba.njit(cache=True, nogil=True)
def _product(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``a @ b`` of 3x3 matrices into ``out`` (no allocation, no BLAS call:
    the search forms one per tilt)."""
    for r in range(3):
        for c in range(3):
            out[r, c] = a[r, 0] * b[0, c] + a[r, 1] * b[1, c] + a[r, 2] * b[2, c]
    return out


@numba.njit(cache=True, nogil=True)
def _log_likelihood(mr, points, orders, seen_at, half, tables, step, d):
    """Log-likelihood at rotation ``mr`` of the reflections' being seen (and
    how brightly), in the profile's detection bin ``d``.

    ``tables``: log P(seen), log P(not seen), the mean and log spread of a
    seen reflection's log intensity and 1 / spread, ``(detection bins, |g|
    bins, knots)``, interpolated in ``|s|`` (beyond the last knot its value
    holds).
    """
    log_seen, log_unseen, mean_t, log_spread, inv_spread = tables
    last = log_seen.shape[2] - 1
    total = 0.0
    for j in range(points.shape[0]):
        x, y, z = _project(points, j, mr)
        at = abs((x * x + y * y) * half - z) / step
        k = min(int(at), last - 1)
        f = min(at - k, 1.0)
        o = orders[j]
        if seen_at[j] > 0:
            u = (np.log(seen_at[j]) - _lerp(mean_t, d, o, k, f)) * _lerp(
                inv_spread, d, o, k, f
            )
            total += _lerp(log_seen, d, o, k, f) - 0.5 * u * u
            total -= _lerp(log_spread, d, o, k, f)
        else:
            total += _lerp(log_unseen, d, o, k, f)
    return total


@numba.njit(cache=True, nogil=True)
def _candidates(m, lattice, field, radii, half, s_start, g_edges):
    """Lattice points near the sphere at ``m`` where a token could be (in
    the field, between the ``radii``), and their ``|g|`` bins."""
    keep = np.empty(lattice.shape[0], np.int64)
    n = 0
    for j in range(lattice.shape[0]):
        x, y, z = _project(lattice, j, m)
        inside = field[0] < -x < field[1] and field[2] < y < field[3]
        inside = inside and radii[0] ** 2 < x * x + y * y < radii[1] ** 2
        if inside and abs((x * x + y * y) * half - z) < s_start:
            keep[n] = j
            n += 1
    points = lattice[keep[:n]]
    orders = np.zeros(n, np.int64)
    for j in range(n):
        g = np.sqrt(points[j, 0] ** 2 + points[j, 1] ** 2 + points[j, 2] ** 2)
        while orders[j] < g_edges.size - 2 and g >= g_edges[orders[j] + 1]:
            orders[j] += 1
    return points, orders


@numba.njit(cache=True, nogil=True)
def _seen(m, points, tokens, mask, radii, rho):
    """Each token (outside the beam) marks the nearest point within ``rho``
    of it at ``m`` as seen, with its intensity (the brightest, if several)."""
    seen_at = np.zeros(points.shape[0])
    for n in range(tokens.shape[0]):
        kx, ky, intensity = tokens[n, 0], tokens[n, 1], tokens[n, 3]
        if not mask[n] or intensity <= 0 or kx * kx + ky * ky <= radii[0] ** 2:
            continue
        best, nearest = rho * rho, -1
        for j in range(points.shape[0]):
            x, y, _ = _project(points, j, m)
            d2 = (-x - kx) ** 2 + (y - ky) ** 2
            if d2 < best:
                best, nearest = d2, j
        if nearest >= 0:
            seen_at[nearest] = max(seen_at[nearest], intensity)
    return seen_at


@numba.njit(parallel=True, cache=True, nogil=True)
def search_patterns(
    matrices, tokens, mask, lattice, fields, bins, geometry, profile, grids, prior, out
):
    """Each pattern's tilt over the nested ``grids`` (see ``search_tilt``).

    ``grids`` rows are ``(half_count, spacing)`` in radians: each level
    scans ``(2 * half_count + 1)**2`` tilts about the beam-frame x and y
    axes around the previous level's answer, the posterior mean of its grid
    (the likelihood times a Gaussian prior of width ``prior[i]``, radians,
    about the start). ``fields`` ``(B, 4)`` and ``bins`` ``(B,)`` are each
    pattern's field and detection bin; ``geometry`` is ``(half the
    wavelength, (beam radius, max radius), pairing radius, start
    excitation)``, ``profile`` ``(tables, step, g_edges)``. ``out`` gets
    ``M @ R(answer)``; a pattern none of whose tokens pairs keeps ``M``.
    """
    half, radii, rho, s_start = geometry
    tables, step, g_edges = profile
    for i in numba.prange(matrices.shape[0]):
        m = matrices[i].copy()
        points, orders = _candidates(
            m, lattice, fields[i], radii, half, s_start, g_edges
        )
        seen_at = _seen(m, points, tokens[i], mask[i], radii, rho)
        out[i] = m
        if not (seen_at > 0).any():
            continue
        rot = np.empty((3, 3))
        tilted = np.empty((3, 3))
        cx = cy = 0.0
        for level in range(grids.shape[0]):
            count, spacing = int(grids[level, 0]), grids[level, 1]
            # Running posterior mean: weights exp(ll - top), rescaled
            # whenever a higher log posterior ``top`` turns up.
            top, total, sx, sy = -np.inf, 0.0, 0.0, 0.0
            for a in range(-count, count + 1):
                for b in range(-count, count + 1):
                    tx, ty = cx + a * spacing, cy + b * spacing
                    _rodrigues(tx, ty, 0.0, rot)
                    ll = _log_likelihood(
                        _product(m, rot, tilted),
                        points,
                        orders,
                        seen_at,
                        half,
                        tables,
                        step,
                        bins[i],
                    )
                    ll -= 0.5 * (tx * tx + ty * ty) / prior[i] ** 2
                    if ll > top:
                        scale = np.exp(top - ll)
                        total, sx, sy, top = total * scale, sx * scale, sy * scale, ll
                    weight = np.exp(ll - top)
                    total += weight
                    sx += weight * tx
                    sy += weight * ty
            cx, cy = sx / total, sy / total
        _rodrigues(cx, cy, 0.0, rot)
        _product(m, rot, out[i])


@numba.njit(cache=True, nogil=True)
def _unexplained(m, lattice, tokens, mask, radii, rho, half, s_start):
    """Tokens (outside the beam) with no lattice point near the sphere
    (``|s| < s_start``) within ``rho`` of them at ``m``."""
    near = np.empty((lattice.shape[0], 2))
    n = 0
    for j in range(lattice.shape[0]):
        x, y, z = _project(lattice, j, m)
        if abs((x * x + y * y) * half - z) < s_start:
            near[n, 0], near[n, 1] = -x, y
            n += 1
    count = 0
    for t in range(tokens.shape[0]):
        kx, ky = tokens[t, 0], tokens[t, 1]
        if not mask[t] or tokens[t, 3] <= 0 or kx * kx + ky * ky <= radii[0] ** 2:
            continue
        explained = False
        for j in range(n):
            if (near[j, 0] - kx) ** 2 + (near[j, 1] - ky) ** 2 < rho * rho:
                explained = True
                break
        count += not explained
    return count


@numba.njit(parallel=True, cache=True, nogil=True)
def score_patterns(
    matrices, tokens, mask, lattice, fields, bins, geometry, profile, cost, out
):
    """Score each pattern's candidate rotations ``matrices`` ``(B, k, 3, 3)``
    into ``out`` ``(B, k)`` (see ``tilt.score_rotations``): the profile's
    log-likelihood, each with its own pairing, less ``cost`` per token that
    no reflection near the sphere explains. The other arguments are as for
    ``search_patterns``."""
    half, radii, rho, s_start = geometry
    tables, step, g_edges = profile
    for i in numba.prange(matrices.shape[0]):
        for c in range(matrices.shape[1]):
            m = matrices[i, c].copy()
            points, orders = _candidates(
                m, lattice, fields[i], radii, half, s_start, g_edges
            )
            seen_at = _seen(m, points, tokens[i], mask[i], radii, rho)
            score = _log_likelihood(
                m, points, orders, seen_at, half, tables, step, bins[i]
            )
            lost = _unexplained(
                m, lattice, tokens[i], mask[i], radii, rho, half, s_start
            )
            out[i, c] = score - cost * lost
