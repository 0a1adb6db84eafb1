"""Steps of the batched torch fit of
:func:`pyxem_transformer.mapping.refine.refine_rotations` (its GPU path and
the reference of the CPU kernel in ``_fit_kernel``): the candidate lattice
points and the Gauss-Newton normal equations of one iteration.
"""

import torch


def _candidate_points(lattice, matrices, half, candidates) -> torch.Tensor:
    """The ``candidates`` lattice points nearest each start's Ewald sphere.

    Only they can pair within a few degrees of the start; fewer points,
    fewer distances.
    """
    v0 = torch.einsum("pi,bij->bpj", lattice, matrices)
    s0 = (v0[..., 0] ** 2 + v0[..., 1] ** 2) * half - v0[..., 2]
    keep = torch.topk(-s0.abs(), min(lattice.shape[0], candidates), dim=1).indices
    return lattice[keep]


def _normal_equations(q, q_s, r, affine, use, ws):
    """Gauss-Newton normal equations ``(a, b)`` of one fit iteration.

    ``q`` are the paired lattice points (diffsims frame), ``q_s`` their
    excitation errors, ``r`` the position residuals, ``use`` and ``ws`` the
    weights of the position and excitation-error residuals.
    """
    vx, vy, vz = q.unbind(-1)
    zero, one = torch.zeros_like(vx), torch.ones_like(vx)
    # d(v_xy)/d(delta) for v -> v + v x delta, mapped by the distortion.
    rot = torch.stack(
        [torch.stack([zero, -vz, vy], -1), torch.stack([vz, zero, -vx], -1)], -2
    )
    rot = torch.einsum("bij,bnjk->bnik", affine, rot)
    jx = torch.cat([rot[..., 0, :], torch.stack([vx, vx, vy, one, zero], -1)], -1)
    jy = torch.cat([rot[..., 1, :], torch.stack([vy, -vy, vx, zero, one], -1)], -1)
    # Spot positions barely depend on tilt; which spots are excited does.
    # Pull the paired lattice points' excitation errors towards zero.
    js = torch.stack([vy, -vx, zero, zero, zero, zero, zero, zero], -1)
    a = (
        torch.einsum("bn,bni,bnj->bij", use, jx, jx)
        + torch.einsum("bn,bni,bnj->bij", use, jy, jy)
        + torch.einsum("bn,bni,bnj->bij", ws, js, js)
    )
    b = torch.einsum(
        "bn,bni->bi", use, jx * r[..., :1] + jy * r[..., 1:]
    ) - torch.einsum("bn,bni->bi", ws, js * q_s[..., None])
    return a, b
