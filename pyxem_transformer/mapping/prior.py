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

    From the model's validation median misorientation
    (``training_info["validation"]``) over ``MEDIAN_PER_SIGMA``; None for a
    model without validation figures (then the fit has no prior).

    Parameters
    ----------
    model
        A trained model.

    Returns
    -------
    sigma
        Standard deviation about each axis, in radians, or None.
    """
    median = model.training_info.get("validation", {}).get("median_misorientation")
    if median is None or not np.isfinite(median) or median <= 0:
        return None
    return float(np.deg2rad(median / MEDIAN_PER_SIGMA))
