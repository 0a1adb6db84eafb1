"""The fit's prior: its width from the network's validation, per pattern from
its confidence."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _fit_inputs import noisy_cu_fit
from scipy.stats import maxwell

from pyxem_transformer.mapping import pattern_prior_sigma, prior_sigma
from pyxem_transformer.mapping._fit_choice import FIT_RADII
from pyxem_transformer.mapping.refine import refine_rotations

MODEL = SimpleNamespace(
    training_info={
        "validation_by_physics": {
            "kinematic": {"median_misorientation": 1.6, "fraction_under_5": 0.9},
            "dynamical": {"median_misorientation": 5.1, "fraction_under_5": 0.5},
        }
    }
)


def test_unsure_patterns_get_the_width_their_confidence_implies():
    base = prior_sigma(MODEL)
    confidence = torch.tensor([0.999, 0.95, 0.91, 0.6, 0.3, 0.0])
    widths = pattern_prior_sigma(MODEL, confidence).numpy()
    # As sure as the kinematic held-back patterns, or surer: their width.
    np.testing.assert_allclose(widths[:3], base)
    # Less sure: the Maxwell width whose mass within 5° is the confidence,
    # wider the less sure, and finite at zero confidence (clipped to 0.05).
    np.testing.assert_allclose(
        widths[3:5], np.deg2rad(5.0) / maxwell.ppf([0.6, 0.3]), rtol=1e-6
    )
    assert base < widths[3] < widths[4] < widths[5] < np.deg2rad(10)
    # A model without validation figures has no prior.
    empty = SimpleNamespace(training_info={})
    assert pattern_prior_sigma(empty, confidence) is None


def _fits(widths):
    """Fits of 12 noisy Cu patterns from starts 3° off, with prior widths."""
    return refine_rotations(
        *noisy_cu_fit(12, seed=3, noise_seed=5, noise=0.01),
        radii=FIT_RADII,
        prior_sigma=widths,
    ).matrices


def test_each_pattern_is_fitted_with_its_own_prior_width():
    tight, wide = 0.002, 0.2
    one_width = _fits(torch.full((12,), tight, dtype=torch.float64))
    torch.testing.assert_close(one_width, _fits(tight))
    mixed = _fits(torch.tensor([tight, wide] * 6, dtype=torch.float64))
    torch.testing.assert_close(mixed[0::2], _fits(tight)[0::2])
    torch.testing.assert_close(mixed[1::2], _fits(wide)[1::2])
    # The widths matter: a tight prior holds the fit near the start.
    assert not torch.allclose(mixed[1::2], _fits(tight)[1::2], atol=1e-4)


@pytest.mark.parametrize(
    "widths", [torch.ones(5), torch.tensor(0.0), torch.full((12,), -0.01), np.nan]
)
def test_a_prior_width_of_the_wrong_shape_or_sign_is_refused(widths):
    with pytest.raises(ValueError, match="prior_sigma"):
        _fits(widths)
