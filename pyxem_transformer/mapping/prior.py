"""The network's own spread, as the prior of the fit to the peaks."""

import numpy as np

from pyxem_transformer.model.network import OrientationTransformer

__all__ = ["prior_sigma"]

#: Median / sigma of the angle of a rotation error that is Gaussian with
#: standard deviation sigma about each axis (the Maxwell distribution): turns
#: a network's validation median into the spread of its prior in the fit.
MEDIAN_PER_SIGMA = 1.538


def prior_sigma(model: OrientationTransformer) -> float | None:
    """Return the spread (radians) of the network's rotations as a fit prior.

    From the model's validation median misorientation over
    ``MEDIAN_PER_SIGMA``: on its kinematic held-back patterns where the
    model reports figures per physics
    (``training_info["validation_by_physics"]``), else on all of them
    (``training_info["validation"]``); None for a model without validation
    figures (then the fit has no prior).

    The prior only weighs where the peaks are precise, which is on
    kinematic-like patterns; sparse dynamical patterns would widen it for
    them. On a Cu model fine-tuned with 40% Bloch-wave and 20% precession
    patterns (all-physics median 2.6°, kinematic 1.7°) the kinematic width
    took ``cu-3000`` (64x64, seeds 0 and 1) from 74.3% to 81.9% under 2°
    (hand-run, docs/models.md).

    Parameters
    ----------
    model
        A trained model.

    Returns
    -------
    sigma
        Standard deviation about each axis, in radians, or None.
    """
    info = model.training_info
    figures = info.get("validation_by_physics", {}).get("kinematic")
    figures = figures or info.get("validation", {})
    median = figures.get("median_misorientation")
    if median is None or not np.isfinite(median) or median <= 0:
        return None
    return float(np.deg2rad(median / MEDIAN_PER_SIGMA))
