"""How well an answer explains its pattern's peaks, without ground truth.

A microscopist judges a measured map by how well each answer fits its
pattern, as ASTAR's reliability or an EBSD pattern fit. Here the figure is
computed the same way for any answer (ours or template matching's): the
answer's phase lattice is projected at the answer's rotation, each token
(one of the strongest found peaks) is paired with its nearest projected
reflection within ``QUALITY_EXCITATION`` of the Ewald sphere, and

* ``explained``: the fraction of the tokens' weight (square root of the
  intensity, as in the fit) whose nearest reflection lies within
  ``QUALITY_RADIUS``;
* ``fit_rms``: the RMS distance (1/Å) of those pairs.

It is one pairing step of :func:`~pyxem_transformer.mapping.refine.refine_rotations`
at the answer (the rotation is not moved), so the figure and the fit agree.
"""

import numpy as np
import torch
from orix.quaternion import Rotation

from pyxem_transformer.crystal.reciprocal import wavelength
from pyxem_transformer.mapping._fit_choice import _lattices
from pyxem_transformer.mapping.refine import refine_rotations
from pyxem_transformer.model.network import OrientationTransformer

__all__ = ["QUALITY_RADIUS", "fit_quality"]

#: A token is explained by a reflection projected this close (1/Å): about
#: two pixels at 0.02 1/Å per pixel, wide enough for 0.3 px spot errors and
#: a few percent of lens distortion at the outer reflections.
QUALITY_RADIUS = 0.04
#: Reflections farther than this (1/Å) from the Ewald sphere explain none.
QUALITY_EXCITATION = 0.3


@torch.no_grad()
def fit_quality(
    quaternions: np.ndarray,
    phase_index: np.ndarray,
    tokens: np.ndarray,
    mask: np.ndarray,
    model: OrientationTransformer,
) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of the tokens an answer explains, and its RMS residual.

    Parameters
    ----------
    quaternions
        ``(n, 4)`` rotations of the answers (orix convention).
    phase_index
        ``(n,)`` phase of each answer (an index into ``model.phases``); -1
        for patterns not indexed.
    tokens, mask
        ``(n, N, 4)`` tokens and ``(n, N)`` mask made with the model's token
        settings.
    model
        The model whose phases the indices refer to.

    Returns
    -------
    explained
        ``(n,)`` in [0, 1]; 0 where not indexed or without tokens.
    fit_rms
        ``(n,)`` RMS residual in 1/Å of the explained tokens; NaN where none.
    """
    n = len(phase_index)
    explained, rms = np.zeros(n), np.full(n, np.nan)
    voltage = model.training_info.get("simulation", {}).get("accelerating_voltage", 200)
    lam = wavelength(voltage)
    q = np.asarray(quaternions, np.float64).reshape(n, 4)
    matrices = torch.from_numpy(Rotation(q).to_matrix().astype(np.float32))
    t, m = torch.from_numpy(np.asarray(tokens)), torch.from_numpy(np.asarray(mask))
    for index, (lattice, _) in enumerate(_lattices(model, torch.device("cpu"))):
        rows = np.flatnonzero((phase_index == index) & mask.any(1))
        if rows.size == 0:
            continue
        r = torch.from_numpy(rows)
        fit = refine_rotations(
            matrices[r],
            t[r],
            m[r],
            lattice,
            lam,
            radii=(QUALITY_RADIUS,),
            excitation_cut=QUALITY_EXCITATION,
        )
        explained[rows] = fit.paired.numpy()
        good = explained[rows] > 0
        rms[rows[good]] = fit.rms.numpy()[good]
    return explained, rms
