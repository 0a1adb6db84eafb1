import numpy as np
import pytest
from diffsims.generators.simulation_generator import SimulationGenerator
from scipy.spatial import cKDTree

from pyxem_transformer import data, phases, simulation
from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.simulation.frame import spot_lists
from pyxem_transformer.tokens.peaks import find_peaks_batched
from pyxem_transformer.tokens.tokenize import FEATURES, TokenSettings, make_tokens


def test_features_order_normalisation_and_direct_beam():
    peaks = PeakSet.from_lists(
        [
            np.array([[0.01, 0.0, 100.0], [0.5, 0.0, 4.0], [0.0, -0.3, 8.0]]),
            np.array([[0.0, 0.0, 5.0]]),  # only a direct beam: an empty row
        ]
    )
    tokens, mask = make_tokens(peaks, TokenSettings(n_tokens=3))
    assert FEATURES == ("kx", "ky", "g", "intensity")
    np.testing.assert_allclose(
        tokens[0], [[0, -0.3, 0.3, 1.0], [0.5, 0, 0.5, 0.5], [0, 0, 0, 0]], atol=1e-6
    )
    assert mask.tolist() == [[True, True, False], [False, False, False]]


def test_keeps_the_n_strongest_and_drops_unusable_peaks():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-1, 1, (50, 2))
    intensity = rng.uniform(1, 2, 50)
    intensity[:3] = [np.nan, -1.0, 0.0]
    xy[3] = [2.0, 2.0]  # beyond max_radius
    peaks = PeakSet.from_lists([np.column_stack([xy, intensity])])
    tokens, mask = make_tokens(peaks, TokenSettings(n_tokens=8))
    usable = np.arange(50) >= 4
    usable &= np.hypot(*xy.T) >= 0.12
    expected = np.sort(intensity[usable])[::-1][:8]
    np.testing.assert_allclose(tokens[0, :, 3], expected / expected[0], rtol=1e-6)
    assert mask.all()


def test_n_tokens_chosen_from_the_data():
    assert TokenSettings.from_peak_counts(np.array([10, 12, 14, 30])).n_tokens == 32
    assert TokenSettings.from_peak_counts(np.array([1, 2])).n_tokens == 8
    with pytest.raises(ValueError, match="n_tokens"):
        TokenSettings(n_tokens=0)


def test_simulated_spots_and_found_peaks_make_the_same_tokens():
    # One path for both: tokens of the exact simulated spots and tokens of the
    # peaks found in the rendered image of the same rotation agree.
    cu = phases.cu()
    s, truth = data.simulated_grains(cu, scan_shape=(1, 3), n_grains=3, seed=5)
    settings = simulation.SimulationSettings(
        reciprocal_radius=1.2, max_excitation_error=(0.1, 0.1)
    )
    spots = []
    for r in truth.rotations:
        sim = SimulationGenerator(200).calculate_diffraction2d(
            cu,
            rotation=r,
            reciprocal_radius=1.2,
            max_excitation_error=0.1,
            with_direct_beam=False,
        )
        spots += spot_lists(sim, 1, settings.minimum_intensity)
    exact = PeakSet.from_lists(spots)
    axes = s.axes_manager.signal_axes
    found = find_peaks_batched(
        s.data.reshape(-1, 128, 128),
        (axes[0].scale, axes[1].scale),
        (axes[0].offset, axes[1].offset),
        smooth_sigma=None,
    )
    token_settings = TokenSettings(n_tokens=8, max_radius=1.2)
    t_exact, m_exact = make_tokens(exact, token_settings)
    t_found, m_found = make_tokens(found, token_settings)
    for i in range(3):
        a = t_exact[i][m_exact[i]]
        b = t_found[i][m_found[i]]
        d, _ = cKDTree(b[:, :2]).query(a[:5, :2])
        assert np.all(d < 0.5 * 0.02), d  # the five strongest within half a pixel
