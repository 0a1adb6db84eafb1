"""The network's own spread, as the prior of the fit to the peaks."""

import numpy as np
import torch
from scipy.stats import maxwell

from pyxem_transformer.model.network import OrientationTransformer

__all__ = ["pattern_prior_sigma", "prior_sigma"]

#: Median / sigma of the angle of a rotation error that is Gaussian with
#: standard deviation sigma about each axis (the Maxwell distribution): turns
#: a network's validation median into the spread of its prior in the fit.
MEDIAN_PER_SIGMA = 1.538

#: The angle (degrees) within which the network's confidence head gives the
#: probability of its answer (see :mod:`pyxem_transformer.model.network`).
CONFIDENCE_ANGLE = 5.0

#: Confidences are clipped to this range before they become widths: below
#: 0.05 the prior is negligible anyway, and 1 would mean a zero width.
CONFIDENCE_RANGE = (0.05, 0.9999)


def _kinematic_figures(model: OrientationTransformer) -> dict:
    """The model's validation figures on its kinematic held-back patterns
    where it reports figures per physics, else on all of them."""
    info = model.training_info
    figures = info.get("validation_by_physics", {}).get("kinematic")
    return figures or info.get("validation", {})


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
    median = _kinematic_figures(model).get("median_misorientation")
    if median is None or not np.isfinite(median) or median <= 0:
        return None
    return float(np.deg2rad(median / MEDIAN_PER_SIGMA))


def pattern_prior_sigma(
    model: OrientationTransformer, confidence: torch.Tensor
) -> torch.Tensor | None:
    """Return one prior width (radians) per pattern from its confidence.

    :func:`prior_sigma` is the network's spread on its kinematic held-back
    patterns. A pattern whose calibrated confidence (the probability that
    the network is within ``CONFIDENCE_ANGLE``) is below those patterns'
    own fraction within that angle is less certain than they were: its
    prior takes the Maxwell width that its confidence implies,
    ``CONFIDENCE_ANGLE / maxwell.ppf(confidence)``. The others keep
    :func:`prior_sigma`. The confidence reads the network's tails (a
    Maxwell width fitted to them is about twice the one fitted to the
    median), so it only widens where the network says it is unsure.

    On sparse dynamical patterns (`cu-dyn-300`, 64x64, seeds 3 and 4,
    hand-run) this took the fraction under 2° from 41.1% to 45.3% and
    under 5° from 82.3% to 85.0%, with `cu-3000` 82.3% against 82.2% under
    2° (docs/benchmark.md).

    Parameters
    ----------
    model
        A trained model.
    confidence
        ``(B,)`` calibrated confidences of the network's answers.

    Returns
    -------
    sigma
        ``(B,)`` widths about each axis in radians, on the confidences'
        device, or None for a model without validation figures.
    """
    base = prior_sigma(model)
    if base is None:
        return None
    anchor = _kinematic_figures(model).get("fraction_under_5")
    widths = np.full(confidence.shape, base)
    if anchor is not None and np.isfinite(anchor):
        c = np.clip(confidence.detach().double().cpu().numpy(), *CONFIDENCE_RANGE)
        unsure = c < anchor
        widths[unsure] = np.deg2rad(CONFIDENCE_ANGLE) / maxwell.ppf(c[unsure])
        widths = np.maximum(widths, base)
    return torch.as_tensor(widths, device=confidence.device)
