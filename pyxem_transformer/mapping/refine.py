"""Refinement of predicted orientations against the found peaks.

The network gives an orientation within a few degrees; the peaks fix it
much more precisely. Starting from the prediction, each pattern's rotation
is refined by an iterative closest point fit: the phase's reciprocal
lattice points near the Ewald sphere are projected onto the detector, every
found peak is paired with its nearest projected point (within a radius that
shrinks, but not below three times the pattern's RMS residual), and a
Gauss-Newton step solves for the small rotation that brings
the pairs together. On a GPU all patterns of a batch are refined at once in
torch; on the CPU the same fit runs in a compiled kernel
(``pyxem_transformer.mapping._fit_kernel``), one pattern per thread.

Geometry (pinned in ``tests/test_refine.py`` against diffsims): a lattice
vector ``g`` (crystal frame, 1/Å) of a pattern with rotation matrix ``M`` is
at ``v = M.T @ g`` in diffsims' frame, seen at detector position
``(kx, ky) = (-v_x, v_y)``, with excitation error
``s = (v_x**2 + v_y**2) * wavelength / 2 - v_z``.
"""

from typing import NamedTuple

import numpy as np
import torch

from pyxem_transformer.mapping._fit_kernel import _kernel_array, fit_patterns
from pyxem_transformer.mapping._fit_torch import _candidate_points, _normal_equations

__all__ = [
    "RADIUS_PER_RMS",
    "Refinement",
    "refine_rotations",
]

#: Pairing radius in units of the last RMS residual, at least (see
#: ``refine_rotations``): ti-300 went from 22.4% to 37.9% under 2°, cu-300
#: from 55.4% to 59.0% (seeds 0-1, hand-run; docs/benchmark.md).
RADIUS_PER_RMS = 3.0


def _rodrigues(delta: torch.Tensor) -> torch.Tensor:
    angle = delta.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    axis = delta / angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).view(-1, 3, 3)
    a = angle[..., None]
    eye = torch.eye(3, dtype=delta.dtype, device=delta.device)
    return eye + torch.sin(a) * k + (1 - torch.cos(a)) * (k @ k)


def _log_rotation(matrices: torch.Tensor) -> torch.Tensor:
    """Rotation vectors ``delta`` with ``_rodrigues(delta) == matrices``."""
    cos = ((matrices.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1.0, 1.0)
    angle = torch.arccos(cos)
    skew = (
        torch.stack(
            [
                matrices[..., 2, 1] - matrices[..., 1, 2],
                matrices[..., 0, 2] - matrices[..., 2, 0],
                matrices[..., 1, 0] - matrices[..., 0, 1],
            ],
            -1,
        )
        / 2
    )  # sin(angle) * axis
    factor = angle / torch.sin(angle).clamp_min(1e-6)
    return skew * torch.where(angle < 1e-6, torch.ones_like(factor), factor)[..., None]


def _nearest(
    peaks: torch.Tensor, points: torch.Tensor, penalty: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distance to, and index of, each peak's nearest point.

    ``penalty`` ``(B, P)`` is added to the points' squared distances. As
    ``|p|**2 + |q|**2 - 2 p.q`` in one batched matrix product: twice as fast
    on the CPU as ``torch.cdist`` (which also takes a square root to be
    squared again). Its rounding (about 1e-7 of ``|p|**2``) only matters for
    near ties; the fit's residuals are recomputed from the paired points.
    """
    sq_points = (points * points).sum(-1) + penalty
    d2 = torch.baddbmm(sq_points[:, None, :], peaks, points.transpose(1, 2), alpha=-2)
    d2 += (peaks * peaks).sum(-1, keepdim=True)
    d2min, nearest = d2.min(-1)
    return d2min.clamp_min(0), nearest


class Refinement(NamedTuple):
    """Result of :func:`refine_rotations`.

    Attributes
    ----------
    matrices
        ``(B, 3, 3)`` refined rotation matrices.
    rms
        ``(B,)`` weighted RMS distance (1/Å) between paired peaks and spots.
    paired
        ``(B,)`` fraction of the tokens' weight that found a partner.
    excitation_rms
        ``(B,)`` weighted RMS excitation error (1/Å) of the paired lattice
        points: what tells a rotation from its 180° about-the-beam twin.
    """

    matrices: torch.Tensor
    rms: torch.Tensor
    paired: torch.Tensor
    excitation_rms: torch.Tensor


@torch.no_grad()
def refine_rotations(
    matrices: torch.Tensor,
    tokens: torch.Tensor,
    mask: torch.Tensor,
    lattice: torch.Tensor,
    wavelength: float,
    radii: tuple[float, ...] = (0.12, 0.08, 0.06, 0.04, 0.03, 0.03, 0.03),
    excitation_cut: float = 0.3,
    excitation_weight: float | None = None,
    excitation_scale: float = 0.065,
    anisotropy_damping: float = 5.0,
    candidates: int = 256,
    prior_sigma: float | torch.Tensor | None = None,
    backend: str = "auto",
    radius_per_rms: float = RADIUS_PER_RMS,
) -> "Refinement":
    """Refine rotations so the lattice's projected spots meet the found peaks.

    Besides the rotation, each pattern gets a small symmetric distortion of
    the detector plane and a centre shift (held near identity and zero),
    which absorb calibration, ellipticity and centring errors of a few
    percent that would otherwise bias it. Spot positions barely depend on
    the tilt of the zone axis, so the paired lattice points' excitation
    errors are also pulled towards zero, weighed against the position noise.

    Parameters
    ----------
    matrices
        ``(B, 3, 3)`` starting rotation matrices (orix ``to_matrix``).
    tokens, mask
        ``(B, N, 4)`` tokens (kx, ky, g, intensity) and ``(B, N)`` mask.
    lattice
        ``(P, 3)`` reciprocal lattice points of the phase (crystal frame).
    wavelength
        Electron wavelength in Å.
    radii
        Pairing radius in 1/Å of each iteration: the smallest, see
        ``radius_per_rms``.
    excitation_cut
        Only lattice points with ``|s|`` below this (1/Å) are candidates.
        Wide on purpose: where the start is several degrees off, the true
        reflections are far from the sphere at the start (a 10° tilt moves
        ``s`` of a 1 1/Å reflection by about 0.17 1/Å) and must stay
        candidates. In the benchmark's ``cu-free`` case (models of
        2026-11-24) 0.3 took the fraction under 2° from 89% (cut 0.2) to 99%.
        Much wider cuts let wrong pairs in (worse on hcp Ti in hand-run
        trials, not in the shipped benchmark).
    excitation_weight
        Weight of the excitation-error residuals relative to positions. If
        None (default), it adapts per pattern and iteration to
        ``(position RMS / excitation_scale)**2``: precise peaks are fitted by
        position, noisy ones lean on which reflections are excited. On Cu
        (32x32 grains, ``cu`` model) this took the median misorientation
        from 0.25 to 0.05 degrees noise-free and from 4.8 to 1.7 degrees at
        3000 electrons per pattern, against the fixed weight 0.002.
    excitation_scale
        Typical excitation error (1/Å) of the excited reflections, which
        sets the adaptive weight.
    candidates
        Lattice points per pattern considered: those with the smallest
        excitation errors at the starting orientation.
    prior_sigma
        If given, the start is a prior of the fit (a maximum a posteriori
        estimate): a Gaussian of this standard deviation (radians, about
        each axis), weighed against the peaks as one more observation at
        their current position noise, and released (Cauchy-like) where the
        fit has moved beyond three ``prior_sigma``. Spot positions barely
        fix the tilt, so on noisy peaks the tilt then leans on the network,
        which read the intensities; on precise peaks the prior's weight
        vanishes with the noise. One width for all patterns, or a ``(B,)``
        tensor of one per pattern. Use the network's own spread
        (:func:`pyxem_transformer.mapping.prior_sigma`, or per pattern
        :func:`pyxem_transformer.mapping.pattern_prior_sigma`).
    anisotropy_damping
        Damping of the anisotropic distortion (elliptical distortion of the
        projection lens); the isotropic scale and the centre are damped 0.05.
    radius_per_rms
        From the second iteration on, each pattern's pairing radius is at
        least this many times its last weighted RMS residual. Precise peaks
        keep ``radii``; noisy ones (a weak spot of a few electrons is placed
        only to about a disk's width) stay paired with the reflections that
        fix the tilt. 0 keeps ``radii`` as given.
    backend
        ``"torch"``: batched tensor operations, on the tensors' device;
        ``"numba"``: a compiled CPU kernel, one pattern per thread (the same
        fit, in float64; three to four and a half times faster on a CPU); ``"auto"``
        (default): numba for CPU tensors, torch otherwise.

    Returns
    -------
    refinement
        A :class:`Refinement` (rotation matrices and fit figures).
    """
    if backend not in ("auto", "torch", "numba"):
        raise ValueError(
            f"`backend` must be 'auto', 'torch' or 'numba', got {backend!r}."
        )
    if not (np.isfinite(radius_per_rms) and radius_per_rms >= 0):
        raise ValueError(
            f"`radius_per_rms` must be a number >= 0 (0: the radii as given), "
            f"got {radius_per_rms!r}."
        )
    prior_sigma = _prior_widths(prior_sigma, matrices)
    damping_diagonal = [1e-4] * 3 + [0.05] + [anisotropy_damping] * 2 + [0.05] * 2
    compiled = backend == "numba" or (
        backend == "auto" and matrices.device.type == "cpu"
    )
    return (_refine_numba if compiled else _refine_torch)(
        matrices,
        tokens,
        mask,
        lattice,
        wavelength,
        radii,
        excitation_cut,
        excitation_weight,
        excitation_scale,
        damping_diagonal,
        candidates,
        prior_sigma,
        radius_per_rms,
    )


def _prior_widths(prior_sigma, matrices) -> torch.Tensor | None:
    """``prior_sigma`` as a ``(B,)`` tensor of positive widths, or None."""
    if prior_sigma is None:
        return None
    n = matrices.shape[0]
    widths = torch.as_tensor(prior_sigma, dtype=matrices.dtype, device=matrices.device)
    widths = widths.expand(n) if widths.ndim == 0 else widths
    if widths.shape != (n,) or not bool(torch.all(widths > 0)):
        raise ValueError(
            f"`prior_sigma` must be one positive width (radians) or one per "
            f"pattern ({n}), or None for no prior; got shape "
            f"{tuple(widths.shape)}"
            + (f" with minimum {float(widths.min()):g}." if widths.numel() else ".")
        )
    return widths


def _refine_torch(
    matrices,
    tokens,
    mask,
    lattice,
    wavelength,
    radii,
    excitation_cut,
    excitation_weight,
    excitation_scale,
    damping_diagonal,
    candidates,
    prior_sigma,
    radius_per_rms,
) -> Refinement:
    """:func:`refine_rotations` in batched torch (``backend="torch"``)."""
    dtype, dev = matrices.dtype, matrices.device
    half = wavelength / 2
    peaks = torch.stack([-tokens[..., 0], tokens[..., 1]], -1)  # diffsims x, y
    weight = mask.to(dtype) * tokens[..., 3].clamp_min(0).sqrt()
    total = weight.sum(1).clamp_min(1e-12)
    m = matrices.clone()
    n = m.shape[0]
    # Per-pattern detector distortion (symmetric 2x2, near identity) and
    # centre shift: absorb calibration, ellipticity and centring errors.
    affine = torch.eye(2, dtype=dtype, device=dev).repeat(n, 1, 1)
    centre = torch.zeros(n, 1, 2, dtype=dtype, device=dev)
    # Parameters: rotation (3), isotropic scale, anisotropic stretch and
    # shear, centre (2); the anisotropic terms are damped hard (they trade
    # off against tilt when few spots are paired).
    damping = torch.diag(torch.tensor(damping_diagonal, dtype=dtype, device=dev))
    rms = torch.zeros(n, dtype=dtype, device=dev)
    paired, excitation = torch.zeros_like(rms), torch.zeros_like(rms)
    points = _candidate_points(lattice, m, half, candidates)  # (B, k, 3)
    for radius in radii:
        v = torch.einsum("bpi,bij->bpj", points, m)  # rows (M.T g).T
        s = (v[..., 0] ** 2 + v[..., 1] ** 2) * half - v[..., 2]
        far = (s.abs() > excitation_cut).to(dtype) * 1e6
        projected = torch.einsum("bij,bpj->bpi", affine, v[..., :2]) + centre
        d2min, nearest = _nearest(peaks, projected, far)
        q = torch.gather(v, 1, nearest[..., None].expand(-1, -1, 3))
        q_s = torch.gather(s, 1, nearest)
        q_xy = torch.gather(projected, 1, nearest[..., None].expand(-1, -1, 2))
        gate = (radius_per_rms * rms).clamp_min(radius)[:, None]  # last rms
        use = weight * (d2min < gate**2).to(dtype)
        r = peaks - q_xy
        # Weighted mean squared distance of the pairs: the position noise.
        var = (use * (r**2).sum(-1)).sum(1) / use.sum(1).clamp_min(1e-12)
        if excitation_weight is None:
            # Weigh tilt evidence against position noise: the noisier the
            # peak positions (current residual), the more the fit leans on
            # which reflections are excited.
            # While pairs are still loose (wide radii), a floor keeps the tilt
            # from drifting where positions alone cannot hold it.
            floor = 0.002 if radius > 0.05 else 1e-4
            ws = use * (var / excitation_scale**2).clamp(floor, 1.0)[:, None]
        else:
            ws = use * excitation_weight
        a, b = _normal_equations(q, q_s, r, affine, use, ws)
        a = a + damping * use.sum(1).clamp_min(1e-6)[:, None, None]
        if prior_sigma is not None:
            _add_prior(a, b, m, matrices, use, var, prior_sigma)
        step = torch.linalg.solve(a, b)
        # Fewer than three pairs cannot fix a rotation: leave those alone.
        enough = (use > 0).sum(1) >= 3
        step = torch.where(enough[:, None], step, torch.zeros_like(step))
        m = m @ _rodrigues(step[:, :3])
        iso, aniso, shear = step[:, 3], step[:, 4], step[:, 5]
        affine = affine + torch.stack(
            [iso + aniso, shear, shear, iso - aniso], -1
        ).view(-1, 2, 2)
        centre = centre + step[:, None, 6:]
        rms = torch.sqrt(var)
        paired = use.sum(1) / total
        excitation = torch.sqrt((use * q_s**2).sum(1) / use.sum(1).clamp_min(1e-12))
    return Refinement(m, rms, paired, excitation)


def _add_prior(a, b, m, start, use, var, prior_sigma) -> None:
    """Add the start as one more observation of mean weight, in place.

    With the peaks' current position variance ``var``: the same units as
    ``a``. Released (Cauchy-like) beyond three ``prior_sigma``.
    """
    dtype, dev = a.dtype, a.device
    towards = _log_rotation(m.transpose(-1, -2) @ start)
    n_used = (use > 0).sum(1).clamp_min(1)
    lam = var * use.sum(1) / n_used / prior_sigma**2  # widths (B,)
    lam = lam / (1 + (towards.norm(dim=-1) / (3 * prior_sigma)) ** 2)
    a[:, :3, :3] += lam[:, None, None] * torch.eye(3, dtype=dtype, device=dev)
    b[:, :3] += lam[:, None] * towards


def _refine_numba(
    matrices,
    tokens,
    mask,
    lattice,
    wavelength,
    radii,
    excitation_cut,
    excitation_weight,
    excitation_scale,
    damping,
    candidates,
    prior_sigma,
    radius_per_rms,
) -> Refinement:
    """:func:`refine_rotations` by the compiled CPU kernel (``backend="numba"``)."""
    n = matrices.shape[0]
    out_matrices = np.empty((n, 3, 3))
    out_figures = np.empty((n, 3))
    fit_patterns(
        _kernel_array(matrices),
        _kernel_array(tokens),
        _kernel_array(mask, bool),
        _kernel_array(lattice),
        wavelength / 2,
        np.asarray(radii, np.float64),
        float(excitation_cut),
        -1.0 if excitation_weight is None else float(excitation_weight),
        float(excitation_scale),
        np.asarray(damping, np.float64),
        int(candidates),
        np.zeros(n) if prior_sigma is None else _kernel_array(prior_sigma),
        float(radius_per_rms),
        out_matrices,
        out_figures,
    )

    def back(a):
        return torch.from_numpy(a).to(device=matrices.device, dtype=matrices.dtype)

    rms, paired, excitation = (back(out_figures[:, i]) for i in range(3))
    return Refinement(back(out_matrices), rms, paired, excitation)
