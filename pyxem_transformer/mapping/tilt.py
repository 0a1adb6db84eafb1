"""Dynamical tilt search: the tilt that best explains which reflections are bright.

In a dynamical pattern (a nanobeam pattern of a sample 100-1,000 Å thick)
few reflections are bright, and where a few electrons place a weak one is
known only to about a disk's width: the spot positions, which barely depend
on the tilt of the zone axis, then hold it only to a few degrees. Which
reflections are seen, and how bright, does depend on it: a reflection's
intensity falls steeply with its excitation error ``s``. The search scores
tilts near the fitted rotation by the likelihood of the tokens under a
profile measured on Bloch-wave training spots (:func:`tilt_profile`;
``tilt_profile.json`` beside this module, written by
``scripts/calibrate_tilt_profile.py``): each reflection in the field is
seen with a probability that falls with ``|s|``, and a seen one's log
intensity (relative to the pattern's strongest peak, the direct beam as a
rule) is Gaussian about a mean that falls
with ``|s|``, both per ``|g|`` bin (higher orders are weaker) and per
detection bin: how weak a reflection can be and still be seen depends on
the dose and the detector, which are not known, but the pattern's weakest
token shows it and picks the bin. Beyond the
profile's last knot (``|s|`` near 0.1 1/Å, where the training sets' Bloch
beams stop) its values hold: a real reflection there is faint, not absent
(a low-order one can still give a few electrons at 3,000 e/pattern), and
the profile claims nothing it did not measure. A Gaussian prior about the
fit keeps the search near it, and the answer is the posterior mean over the
grid of tilts.

The search keeps the fit's pairing of peaks and reflections;
:func:`score_rotations` compares rotations that pair them differently
(fits from other starts), charging each peak no reflection explains.

Kinematic patterns (thin samples, precession) do not follow this profile:
the search is for dynamical data only (``refine="dynamical"``).

Hand-written: no library we use scores orientations by which reflections a
dynamical pattern shows (pyxem's template matching correlates kinematic
templates; abTEM simulates, it does not index).
"""

import functools
import json
from pathlib import Path

import numpy as np
import torch

from pyxem_transformer.mapping._fit_kernel import _kernel_array
from pyxem_transformer.mapping._tilt_kernel import score_patterns, search_patterns
from pyxem_transformer.tokens.tokenize import _usable

__all__ = [
    "TILT_GRIDS",
    "TILT_PRIOR",
    "beam_ratio",
    "score_rotations",
    "search_tilt",
    "tilt_profile",
]

PROFILE_PATH = Path(__file__).with_name("tilt_profile.json")

#: Nested tilt grids, ``(half count, spacing in degrees)``, each about the
#: previous one's answer: 9x9 tilts 1° apart about the fit (to ±4°, twice
#: the prior's width). The answer is the grid's posterior mean, not its
#: most likely tilt: on a sparse pattern the likelihood is flat over a few
#: degrees, and the mean errs less (on the benchmark's dynamical samples,
#: 1.8-2.3 points more under 2° and 1.2-1.6 more under 5° than the most
#: likely of 67 tilts in nested grids, hand-run).
TILT_GRIDS = ((4, 1.0),)
#: Width (degrees) of the Gaussian prior about the fitted rotation.
TILT_PRIOR = 2.0
#: A peak sees the nearest reflection within this radius (1/Å): about a
#: disk's width, where a weak spot of a few electrons falls.
PAIRING_RADIUS = 0.06
#: Only lattice points with ``|s|`` below this (1/Å) at the start are
#: scored: beyond the profile's last knot (0.1) its values hold, and a 3°
#: tilt moves ``s`` of a 1.5 1/Å reflection by 0.08, so farther points
#: score the same at every tilt.
START_EXCITATION = 0.18
#: Reflections this close (1/Å) to the field's edge are not scored: their
#: disks may be cut.
EDGE = 0.05


def beam_ratio(peaks, settings) -> np.ndarray:
    """Direct beam's intensity over the strongest token's, per pattern.

    Tokens leave the direct beam out and scale intensities to the strongest
    kept peak; the profile holds them relative to the strongest peak, the
    direct beam included.

    Parameters
    ----------
    peaks
        A :class:`~pyxem_transformer.peak_set.PeakSet` centred on the beam.
    settings
        The model's token settings (``direct_beam_radius``, ``max_radius``).

    Returns
    -------
    ratio
        ``(n,)``; NaN where a pattern has no peak in the beam or no token.
    """
    n = peaks.n_patterns
    g, token = _usable(peaks, settings)  # the peaks make_tokens may keep
    good = np.isfinite(g) & np.isfinite(peaks.intensity) & (peaks.intensity > 0)
    beam = good & (g < settings.direct_beam_radius)
    strongest = np.zeros((2, n))
    for row, which in enumerate((beam, token)):
        index, value = peaks.pattern_index[which], peaks.intensity[which]
        np.maximum.at(strongest[row], index, value)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(strongest.min(0) > 0, strongest[0] / strongest[1], np.nan)


@functools.cache
def tilt_profile() -> dict:
    """The search's profile, as measured on Bloch-wave training spots.

    Returns
    -------
    profile
        ``seen``, ``mean`` and ``spread``: ``(detection bins, |g| bins,
        knots)`` arrays of the fraction of reflections seen and the mean and
        spread of a seen one's log intensity relative to the strongest peak, at
        ``|s| = k * step`` (1/Å); ``detection_edges`` (inner edges of the
        bins, in the log of the weakest seen reflection's intensity relative
        to the strongest peak), ``g_edges`` (1/Å), ``step``, ``seen_floor``
        (seen fractions are kept within it and one less it) and ``source``
        (how it was measured).
    """
    document = json.loads(PROFILE_PATH.read_text())
    for key in ("seen", "mean", "spread", "detection_edges", "g_edges"):
        document[key] = np.asarray(document[key], np.float64)
    return document


@functools.cache
def _tables() -> tuple[np.ndarray, ...]:
    """The kernel's tables (computed once; not to be modified): one more
    knot beyond the profile's, equal to its last (the values hold)."""
    profile = tilt_profile()
    floor = profile["seen_floor"]
    seen, mean, spread = (
        np.concatenate([a, a[..., -1:]], -1)
        for a in (profile["seen"], profile["mean"], profile["spread"])
    )
    seen = seen.clip(floor, 1 - floor)
    return np.log(seen), np.log1p(-seen), mean, np.log(spread), 1 / spread


def _detection_bins(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each pattern's detection bin of the profile, from its weakest token.

    ``tokens`` hold intensities relative to the strongest peak; a pattern
    without tokens gets bin 0 (it is not searched).
    """
    intensity = np.where(mask & (tokens[..., 3] > 0), tokens[..., 3], np.inf)
    weakest = intensity.min(1)
    found = np.isfinite(weakest)
    log_weakest = np.full(weakest.shape, -np.inf)
    log_weakest[found] = np.log(weakest[found])
    return np.searchsorted(tilt_profile()["detection_edges"], log_weakest)


def _fields(tokens: np.ndarray, mask: np.ndarray, field) -> np.ndarray:
    """Per pattern ``(kx_min, kx_max, ky_min, ky_max)``, less ``EDGE``.

    Without a detector ``field``, each pattern's tokens' reach stands in.
    """
    n = tokens.shape[0]
    if field is None:
        reach = np.where(mask, np.hypot(tokens[..., 0], tokens[..., 1]), 0).max(1)
        out = np.stack([-reach, reach, -reach, reach], 1)
    else:
        out = np.broadcast_to(np.asarray(field, np.float64), (n, 4)).copy()
    return out + np.array([EDGE, -EDGE, EDGE, -EDGE])


def search_tilt(
    matrices: torch.Tensor,
    tokens: torch.Tensor,
    mask: torch.Tensor,
    lattice: torch.Tensor,
    wavelength: float,
    beam: np.ndarray,
    radius_range: tuple[float, float],
    field: tuple[float, float, float, float] | None = None,
    prior: float = TILT_PRIOR,
    grids: tuple[tuple[int, float], ...] = TILT_GRIDS,
) -> torch.Tensor:
    """Tilt each rotation to the posterior mean of its dynamical pattern's tilt.

    Parameters
    ----------
    matrices
        ``(B, 3, 3)`` fitted rotation matrices (orix ``to_matrix``).
    tokens, mask
        ``(B, N, 4)`` tokens (kx, ky, g, intensity relative to the
        strongest) and ``(B, N)`` mask.
    lattice
        ``(P, 3)`` reciprocal lattice points of the phase (crystal frame).
    wavelength
        Electron wavelength in Å.
    beam
        ``(B,)`` direct beam's intensity over the strongest token's
        (:func:`beam_ratio`); patterns where it is not a positive number are
        left as they are.
    radius_range
        ``(direct_beam_radius, max_radius)`` of the model's token settings
        (1/Å): tokens exist only between them, so only reflections there
        are scored.
    field
        ``(kx_min, kx_max, ky_min, ky_max)`` in 1/Å where peaks can be
        found; None: each pattern's tokens' reach.
    prior
        Width (degrees) of the Gaussian prior about ``matrices``.
    grids
        Nested grids of tilts about the beam-frame x and y axes, each
        ``(half count, spacing in degrees)`` about the previous level's
        answer (each level's answer is its posterior mean).

    Returns
    -------
    matrices
        ``(B, 3, 3)`` tilted rotation matrices, on the input's device and
        dtype. Runs on the CPU whatever the device (a compiled kernel, one
        pattern per thread).
    """
    if not (np.isfinite(prior) and prior > 0):
        raise ValueError(f"`prior` must be a positive width in degrees, got {prior!r}.")
    grid = np.array([(int(c), np.deg2rad(s)) for c, s in grids], np.float64)
    if grid.ndim != 2 or (grid[:, 0] < 0).any() or (grid[:, 1] <= 0).any():
        raise ValueError(
            f"`grids` must be (half count >= 0, spacing > 0) pairs, got {grids!r}."
        )
    n = matrices.shape[0]
    out = np.empty((n, 3, 3))
    if n == 0:
        return matrices.clone()
    inputs = _kernel_inputs(
        matrices, tokens, mask, lattice, wavelength, beam, radius_range, field
    )
    search_patterns(*inputs, grid, np.full(n, np.deg2rad(prior)), out)
    return torch.from_numpy(out).to(device=matrices.device, dtype=matrices.dtype)


def score_rotations(
    matrices: torch.Tensor,
    tokens: torch.Tensor,
    mask: torch.Tensor,
    lattice: torch.Tensor,
    wavelength: float,
    beam: np.ndarray,
    radius_range: tuple[float, float],
    field: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """How well candidate rotations explain each dynamical pattern.

    Unlike the search, which tilts one rotation and keeps its pairing of
    peaks and reflections, this compares rotations that pair differently
    (say, fits from different starts): each is scored by the profile's
    log-likelihood under its own pairing, less ``-log(seen_floor)`` (3 for
    the shipped profile) for each token that no reflection near the sphere
    explains, the profile's odds of a stray peak.

    Parameters
    ----------
    matrices
        ``(B, k, 3, 3)``: ``k`` candidate rotation matrices per pattern.
    tokens, mask, lattice, wavelength, beam, radius_range, field
        As for :func:`search_tilt`.

    Returns
    -------
    scores
        ``(B, k)`` log-likelihoods (higher is better; -inf where ``beam``
        is not a positive number). Runs on the CPU.
    """
    n, k = matrices.shape[:2]
    out = np.zeros((n, k))
    if n == 0:
        return out
    inputs = _kernel_inputs(
        matrices, tokens, mask, lattice, wavelength, beam, radius_range, field
    )
    score_patterns(*inputs, -np.log(tilt_profile()["seen_floor"]), out)
    out[~inputs[2].any(1)] = -np.inf  # no usable beam or no tokens
    return out


def _kernel_inputs(
    matrices, tokens, mask, lattice, wavelength, beam, radius_range, field
) -> tuple:
    """The kernels' shared arguments: matrices, tokens relative to the
    strongest peak, mask, lattice, fields, detection bins, geometry and
    profile (see ``_tilt_kernel.search_patterns``)."""
    t, m = _relative_tokens(tokens, mask, beam)
    geometry = (
        wavelength / 2,
        np.asarray(radius_range, np.float64),
        PAIRING_RADIUS,
        START_EXCITATION,
    )
    profile = (_tables(), tilt_profile()["step"], tilt_profile()["g_edges"])
    return (
        _kernel_array(matrices),
        t,
        m,
        _kernel_array(lattice),
        _fields(t, m, field),
        _detection_bins(t, m),
        geometry,
        profile,
    )


def _relative_tokens(tokens, mask, beam) -> tuple[np.ndarray, np.ndarray]:
    """Kernel copies of the tokens, intensities relative to the pattern's
    strongest peak (the direct beam, as a rule), as in the profile; patterns
    without a usable ``beam`` lose their tokens."""
    t = _kernel_array(tokens)
    m = _kernel_array(mask, bool)
    n = t.shape[0]
    beam = np.asarray(beam, np.float64).reshape(-1)
    if beam.shape != (n,):
        raise ValueError(
            f"`beam` must hold one ratio per pattern ({n}), got shape {beam.shape}."
        )
    usable = np.isfinite(beam) & (beam > 0)
    # Tokens are relative to the strongest token; the strongest peak is the
    # beam where the ratio exceeds 1, else that token.
    t[..., 3] /= np.where(usable, np.maximum(beam, 1.0), 1.0)[:, None]
    m &= usable[:, None]  # no tokens: the search keeps the start
    return t, m
