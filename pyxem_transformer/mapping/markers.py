"""Predicted Bragg spots of mapped orientations, as hyperspy markers.

The geometry is the refinement's (:mod:`pyxem_transformer.mapping.refine`): a lattice
vector ``g`` of a pattern with rotation matrix ``M`` sits at ``v = M.T @ g``,
seen at ``(kx, ky) = (-v_x, v_y)`` with excitation error
``s = (v_x**2 + v_y**2) * wavelength / 2 - v_z``.
"""

import numpy as np
from orix.quaternion import Rotation

from pyxem_transformer.crystal.reciprocal import reciprocal_lattice_points, wavelength

__all__ = ["predicted_spots"]


def predicted_spots(
    quaternions: np.ndarray,
    phase_index: np.ndarray,
    phases,
    *,
    max_excitation_error: float = 0.05,
    max_radius: float = 1.5,
    accelerating_voltage: float = 200.0,
) -> np.ndarray:
    """Return the ``(kx, ky)`` of the spots each orientation excites.

    Parameters
    ----------
    quaternions
        ``(n, 4)`` unit quaternions.
    phase_index
        ``(n,)`` index into ``phases``; -1 (not indexed) gets no spots.
    phases
        orix ``PhaseList`` (or list) of the map.
    max_excitation_error
        Spots with ``|s|`` up to this (1/Å) are drawn.
    max_radius
        Largest ``|g|`` drawn, 1/Å.
    accelerating_voltage
        In kV, for the Ewald sphere's curvature.

    Returns
    -------
    spots
        Object array of shape ``(n,)``, each a ``(m, 2)`` float array in 1/Å.
    """
    quaternions = np.asarray(quaternions, float).reshape(-1, 4)
    phase_index = np.asarray(phase_index).reshape(-1)
    phase_list = [phases[i] for i in phases.ids] if hasattr(phases, "ids") else phases
    half = wavelength(accelerating_voltage) / 2
    matrices = Rotation(quaternions).to_matrix()
    spots = np.empty(len(quaternions), dtype=object)
    for i in range(len(quaternions)):
        spots[i] = np.zeros((0, 2))
    for index, phase in enumerate(phase_list):
        here = np.flatnonzero(phase_index == index)
        if here.size == 0:
            continue
        lattice = reciprocal_lattice_points(phase, max_radius).astype(float)
        v = np.einsum("pi,bij->bpj", lattice, matrices[here])
        s = (v[..., 0] ** 2 + v[..., 1] ** 2) * half - v[..., 2]
        excited = np.abs(s) <= max_excitation_error
        for j, pixel in enumerate(here):
            spots[pixel] = np.column_stack([-v[j, excited[j], 0], v[j, excited[j], 1]])
    return spots
