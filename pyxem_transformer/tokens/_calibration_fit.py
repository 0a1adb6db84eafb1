"""Helpers of :func:`~pyxem_transformer.tokens.calibration.estimate_calibration`:
lattice radii, their likelihood, and each pattern's beam and Bragg peaks."""

import numpy as np
from orix.crystal_map import PhaseList

from pyxem_transformer.crystal.reciprocal import reciprocal_lattice_points
from pyxem_transformer.peak_set import PeakSet


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


class _RadiusFit:
    """The scale factor that puts Bragg peak radii on the phases' radii.

    Each pattern is one phase: its peaks are scored against each phase's
    radii and the best phase kept (two phases' lattices can be scaled copies
    of each other, so pooling their radii is ambiguous). ``owner`` (the
    peaks' pattern, sorted) and ``weight`` come from :func:`_beam_and_bragg`.
    """

    #: 1/Å: about the peak finder's position error.
    width = 0.01

    def __init__(self, radius, weight, owner, n_patterns, phases, top) -> None:
        if isinstance(phases, PhaseList):
            phases = [phases[i] for i in phases.ids]
        self.radius, self.weight, self.owner = radius, weight, owner
        self.lattices = [_lattice_radii([p], top) for p in phases]
        self.grid = np.arange(0.0, top + 5 * self.width, self.width / 10)
        self.tables = [_log_mixture(g, self.grid, self.width) for g in self.lattices]
        self.n_patterns = n_patterns
        self.starts = _group_starts(owner)

    def best_phase(self, factor: float) -> np.ndarray:
        """Each pattern's best phase at ``factor``."""
        per_phase = np.stack(
            [
                np.bincount(
                    self.owner,
                    weights=self.weight * np.interp(self.radius * factor, self.grid, t),
                    minlength=self.n_patterns,
                )
                for t in self.tables
            ]
        )
        return per_phase.argmax(0)

    def scores(self, factors: np.ndarray) -> np.ndarray:
        """The summed best-phase score of each factor, all at once (each
        pattern's score per phase is a sum over its peaks)."""
        scaled_radii = np.multiply.outer(factors, self.radius)
        per_phase = [
            np.add.reduceat(
                self.weight * np.interp(scaled_radii, self.grid, t), self.starts, axis=1
            )
            for t in self.tables
        ]
        return np.max(per_phase, axis=0).sum(axis=1)

    def search(self, factors: np.ndarray) -> float:
        """Grid search, coarse to fine: every fourth factor, then every
        factor within two coarse steps of the best (a score peak is about
        width / radius, some 0.01, wide: the coarse grid cannot step over
        it)."""
        best = 4 * int(np.argmax(self.scores(factors[::4])))
        fine = factors[max(best - 8, 0) : best + 9]
        return float(fine[int(np.argmax(self.scores(fine)))])

    def match(self, factor: float) -> tuple[np.ndarray, np.ndarray]:
        """Each peak's nearest radius of its pattern's phase, and the residual."""
        phase_of_peak = self.best_phase(factor)[self.owner]
        nearest = np.empty_like(self.radius)
        scaled = self.radius * factor
        for index, lattice in enumerate(self.lattices):
            here = phase_of_peak == index
            nearest[here] = _nearest(lattice, scaled[here])
        return nearest, scaled - nearest

    def polish(self, factor: float) -> float:
        """Least squares on the peaks that match, three times."""
        for _ in range(3):
            nearest, residual = self.match(factor)
            good = np.abs(residual) < 2 * self.width
            if not good.any():
                return factor
            w = self.weight[good]
            r, t = self.radius[good], nearest[good]
            factor = float(np.sum(w * r * t) / np.sum(w * r * r))
        return factor


def _ellipse(azimuth, ratio, weight, family) -> tuple[np.ndarray, float]:
    """Weighted fit of ``ratio = c_family + a cos 2phi + b sin 2phi``: ``(a,
    b)`` and the standard error of their amplitude.

    Each reflection family (``family``: the matched lattice radius) has an
    offset of its own, so radius errors that differ between families (close
    disks, intensity-dependent finder bias) are not read as an ellipse where
    a few grains sample the azimuths unevenly.
    """
    _, index = np.unique(family, return_inverse=True)
    n_families = int(index.max()) + 1 if index.size else 0
    if len(azimuth) < n_families + 6 or not weight.sum() > 0:
        return np.zeros(2), float("inf")
    design = np.zeros((len(azimuth), n_families + 2))
    design[np.arange(len(azimuth)), index] = 1.0
    design[:, -2] = np.cos(2 * azimuth)
    design[:, -1] = np.sin(2 * azimuth)
    normal = (design * weight[:, None]).T @ design / weight.sum()
    if np.linalg.cond(normal) > 1e4:
        # Too few azimuths per family (a scan of one or two grains): the
        # ellipse is not separable from the families' radius errors.
        return np.zeros(2), float("inf")
    w = np.sqrt(weight)
    coef, *_ = np.linalg.lstsq(design * w[:, None], ratio * w, rcond=None)
    scatter = np.average((ratio - design @ coef) ** 2, weights=weight)
    covariance = np.linalg.inv(normal) * scatter / len(azimuth)
    error = float(np.sqrt(max(covariance[-2, -2], covariance[-1, -1])))
    return coef[-2:], error


def _stretch(ellipse, azimuth) -> np.ndarray:
    """Radius factor of the elliptical distortion at each azimuth."""
    return 1 + ellipse[0] * np.cos(2 * azimuth) + ellipse[1] * np.sin(2 * azimuth)
