"""Orientations to simulate: uniform samples of SO(3)."""

import numpy as np
from orix.quaternion import Rotation

__all__ = ["random_rotations"]


def random_rotations(n: int, rng: np.random.Generator) -> Rotation:
    """Return ``n`` rotations drawn uniformly from SO(3).

    Parameters
    ----------
    n
        Number of rotations.
    rng
        NumPy random generator (seeded by the caller for reproducibility).

    Returns
    -------
    rotations
        orix rotations of shape ``(n,)``, each with a non-negative real part.
    """
    # Normalised 4-D Gaussians are uniform on the unit sphere of quaternions.
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    return Rotation(q)
