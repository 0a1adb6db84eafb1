"""Rotation algebra in torch: the 6-D representation and symmetric distances.

The orientation head predicts two 3-vectors per phase, mapped to a rotation
matrix by Gram-Schmidt (Zhou et al., CVPR 2019). Unlike quaternions or Euler
angles, this representation is continuous over all of SO(3), so a network
can approach any rotation without jumps or a double cover to fight.

Matrices follow orix's ``Rotation.to_matrix()`` for the diffsims/orix
rotation of a pattern. Equivalent answers are ``S @ R @ T`` for ``S`` in the
proper point group (crystal symmetry acts on the left, as in orix's
``Orientation``) and ``T`` in ``{I, Rz(180°)}`` when the Friedel twin is
folded in (see :mod:`pyxem_transformer.evaluation.metrics`).
"""

import numpy as np
import torch
from orix.crystal_map import Phase
from orix.quaternion import Rotation

__all__ = [
    "equivalence_operators",
    "matrix_to_quaternion",
    "rotation_from_6d",
    "symmetric_angle",
]


def rotation_from_6d(x: torch.Tensor) -> torch.Tensor:
    """Map ``(..., 6)`` to rotation matrices ``(..., 3, 3)`` by Gram-Schmidt.

    The two 3-vectors become the first two columns after orthonormalisation.

    Parameters
    ----------
    x
        Network output.

    Returns
    -------
    matrices
        Proper rotation matrices.
    """
    a, b = x[..., :3], x[..., 3:]
    c1 = torch.nn.functional.normalize(a, dim=-1)
    b = b - (c1 * b).sum(-1, keepdim=True) * c1
    c2 = torch.nn.functional.normalize(b, dim=-1)
    c3 = torch.cross(c1, c2, dim=-1)
    return torch.stack([c1, c2, c3], dim=-1)


def equivalence_operators(
    phase: Phase, friedel: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Return left (crystal symmetry) and right (beam twin) matrices of a phase.

    Parameters
    ----------
    phase
        The phase; its proper point group gives the left operators.
    friedel
        Include ``Rz(180°)`` among the right operators.

    Returns
    -------
    left, right
        ``(n_sym, 3, 3)`` and ``(1 or 2, 3, 3)`` float32 arrays.
    """
    left = phase.point_group.proper_subgroup.to_matrix().astype(np.float32)
    right = [np.eye(3)]
    if friedel:
        right.append(Rotation.from_axes_angles([0, 0, 1], np.pi).to_matrix()[0])
    return left.reshape(-1, 3, 3), np.stack(right).astype(np.float32)


def symmetric_angle(
    predicted: torch.Tensor,
    truth: torch.Tensor,
    left: torch.Tensor,
    right: torch.Tensor,
    return_best: bool = False,
):
    """Smallest rotation angle (radians) from ``predicted`` to ``S @ truth @ T``.

    Parameters
    ----------
    predicted, truth
        ``(B, 3, 3)`` rotation matrices.
    left
        ``(B, S, 3, 3)`` or ``(S, 3, 3)`` crystal symmetry matrices (padded
        with copies of the identity when phases differ in size).
    right
        ``(T, 3, 3)`` twin matrices.
    return_best
        Also return the equivalent closest to the prediction.

    Returns
    -------
    angle
        ``(B,)`` angles in radians; with ``return_best`` also ``(B, 3, 3)``.
    """
    if left.ndim == 3:
        left = left.expand(truth.shape[0], *left.shape)
    eq = torch.einsum("bsij,bjk,tkl->bstil", left, truth, right)
    eq = eq.reshape(truth.shape[0], -1, 3, 3)
    trace = torch.einsum("bij,bnij->bn", predicted, eq)  # tr(P^T E)
    best_trace, best = trace.max(dim=1)
    # Stay off the ends: arccos has an infinite slope at +-1 (NaN gradients).
    cos = ((best_trace - 1) / 2).clamp(-1.0 + 1e-6, 1.0 - 1e-6)
    angle = torch.arccos(cos)
    if return_best:
        return angle, eq[torch.arange(eq.shape[0]), best]
    return angle


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """Convert rotation matrices ``(..., 3, 3)`` to unit quaternions (w >= 0).

    Parameters
    ----------
    matrix
        Rotation matrices.

    Returns
    -------
    quaternions
        Array of shape ``(..., 4)``, ``(w, x, y, z)``.
    """
    rotations = Rotation.from_matrix(
        np.asarray(matrix, dtype=np.float64).reshape(-1, 3, 3)
    )
    q = rotations.data
    q[q[:, 0] < 0] *= -1
    return q.reshape(*np.shape(matrix)[:-2], 4)
