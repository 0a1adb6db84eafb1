"""Inputs of :func:`refine_rotations` for the fit's tests: noisy Cu tokens and
starts tilted off the truth."""

import numpy as np
import torch
from orix.quaternion import Rotation

from pyxem_transformer import phases, simulation
from pyxem_transformer.crystal.reciprocal import reciprocal_lattice_points, wavelength
from pyxem_transformer.tokens.tokenize import TokenSettings, make_tokens


def noisy_cu_fit(n: int, seed: int, noise_seed: int, noise: float) -> tuple:
    """``(matrices, tokens, mask, lattice, wavelength)`` of ``n`` Cu patterns.

    Token positions get Gaussian noise of ``noise`` 1/Å; the starts are the
    true rotations turned 3° (on average) about random axes.
    """
    cu = phases.cu()
    spots = simulation.simulate_spots(cu, n, seed=seed, show_progressbar=False)
    tokens, mask = make_tokens(spots.peaks, TokenSettings(n_tokens=32))
    rng = np.random.default_rng(noise_seed)
    tokens[..., :2] += rng.normal(scale=noise, size=tokens[..., :2].shape)
    start = Rotation(spots.rotations) * Rotation.from_axes_angles(
        rng.normal(size=(n, 3)), np.deg2rad(3)
    )
    return (
        torch.as_tensor(start.to_matrix(), dtype=torch.float64),
        torch.as_tensor(tokens, dtype=torch.float64),
        torch.as_tensor(mask),
        torch.as_tensor(reciprocal_lattice_points(cu, 1.6), dtype=torch.float64),
        wavelength(200),
    )
