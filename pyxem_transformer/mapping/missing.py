"""Reflections a fitted rotation expects where the pattern has no peak."""

import numpy as np
import torch

from pyxem_transformer.mapping._fit_kernel import _kernel_array, missing_patterns

__all__ = ["missing_reflections"]


def missing_reflections(
    matrices: torch.Tensor,
    tokens: torch.Tensor,
    mask: torch.Tensor,
    lattice: np.ndarray | torch.Tensor,
    strength: np.ndarray | torch.Tensor,
    wavelength: float,
    radius_range: tuple[float, float],
    field: tuple[float, float, float, float] | None = None,
    sigma: float = 0.03,
    tolerance: float = 0.05,
) -> torch.Tensor:
    """How strongly each rotation predicts a reflection that has no peak.

    A fit pairs found peaks with lattice points, so a wrong rotation whose
    spots cover every peak fits as well as the right one; but it may also
    put a strong reflection on the Ewald sphere where no peak is. Each
    lattice point is expected with its strength times
    ``exp(-s**2 / (2 sigma**2))`` (``s`` its excitation error), where it
    falls on the detector (``field``) between the radii the tokens were
    taken from (``radius_range``).

    Parameters
    ----------
    matrices
        ``(B, 3, 3)`` rotation matrices (orix ``to_matrix``).
    tokens, mask
        ``(B, N, 4)`` tokens (kx, ky, g, intensity) and ``(B, N)`` mask.
    lattice, strength
        Points and strengths of :func:`reciprocal_lattice` (arrays, or
        tensors on any device: the check runs on the CPU).
    wavelength
        Electron wavelength in Å.
    radius_range
        ``(inner, outer)`` radii in 1/Å between which the tokens were taken
        (:class:`~pyxem_transformer.tokens.TokenSettings`'
        ``direct_beam_radius`` and ``max_radius``).
    field
        ``(kx_min, kx_max, ky_min, ky_max)`` in 1/Å: where peaks could be
        found. If None, each pattern's tokens' reach, the same both ways
        from the centre (Friedel pairs), widened by ``tolerance``.
    sigma
        Excitation error (1/Å) at which an expected reflection's weight has
        fallen to ``exp(-1/2)``; narrow, so only reflections close to the
        sphere are expected (the data's own excitation error is not known).
    tolerance
        Distance (1/Å) within which a token accounts for a reflection.

    Returns
    -------
    missing
        ``(B,)``: the largest expected weight of a reflection with no token
        within ``tolerance``, relative to the largest expected weight of the
        pattern; 0 where every expected reflection has a token (or fewer
        than three tokens).
    """
    if field is not None and np.shape(field) != (4,):
        raise ValueError(
            "`field` must be (kx_min, kx_max, ky_min, ky_max) in 1/Å, or None; "
            f"got {field!r}."
        )
    n = matrices.shape[0]
    out = np.empty(n)
    if n:
        missing_patterns(
            _kernel_array(matrices),
            _kernel_array(tokens),
            _kernel_array(mask, bool),
            _kernel_array(lattice),
            _kernel_array(strength),
            wavelength / 2,
            float(sigma),
            float(tolerance),
            float(radius_range[0]),
            float(radius_range[1]),
            np.full(4, np.nan) if field is None else np.asarray(field, np.float64),
            out,
        )
    return torch.from_numpy(out).to(device=matrices.device, dtype=matrices.dtype)
