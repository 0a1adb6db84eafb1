"""The fit-quality figure: computed alike for any answer, in the result, and
ranking right answers above wrong ones."""

import numpy as np
import pytest
from orix.crystal_map import CrystalMap
from orix.quaternion import Rotation

import pyxem_transformer as pxt
from pyxem_transformer.evaluation.quality import confidence_auc, roc_auc
from pyxem_transformer.mapping.quality import fit_quality
from pyxem_transformer.mapping.result import COLUMNS, orientation_map_from_arrays
from pyxem_transformer.simulation import random_rotations
from pyxem_transformer.tokens import find_peaks_batched, make_tokens


@pytest.fixture(scope="module")
def sample():
    s, truth = pxt.data.simulated_grains(
        pxt.phases.cu(), scan_shape=(5, 5), dose=3000, n_grains=4, seed=21
    )
    axes = s.axes_manager.signal_axes
    peaks = find_peaks_batched(
        s.data.reshape(-1, 128, 128),
        tuple(a.scale for a in axes),
        tuple(a.offset for a in axes),
    )
    model = pxt.pretrained("cu")
    tokens, mask = make_tokens(peaks, model.token_settings)
    return s, truth, model, tokens, mask


def test_the_truth_explains_its_peaks_and_random_rotations_do_not(sample):
    _, truth, model, tokens, mask = sample
    n = len(tokens)
    phase = np.zeros(n, int)
    right, rms = fit_quality(truth.rotations.data, phase, tokens, mask, model)
    wrong = random_rotations(n, np.random.default_rng(5)).data
    random, _ = fit_quality(wrong, phase, tokens, mask, model)
    assert np.median(right) > 0.8 and np.nanmedian(rms) < 0.02
    assert np.median(random) < 0.5
    assert roc_auc(np.r_[right, random], np.r_[np.ones(n), np.zeros(n)]) > 0.95


def test_not_indexed_patterns_explain_nothing(sample):
    _, truth, model, tokens, mask = sample
    phase = np.full(len(tokens), -1)
    explained, rms = fit_quality(truth.rotations.data, phase, tokens, mask, model)
    assert np.all(explained == 0) and np.all(np.isnan(rms))


def test_the_result_and_crystal_map_carry_the_fit_quality(sample):
    s, truth, model, _, _ = sample
    om = s.get_orientation_map_transformer(model, show_progressbar=False)
    assert om.columns == list(COLUMNS)
    xmap = om.to_crystal_map()
    for name in ("explained", "fit_rms", "beam_kx", "beam_ky"):
        assert name in xmap.prop
    assert np.median(xmap.prop["explained"]) > 0.7
    image = om.to_column_map()
    np.testing.assert_allclose(
        image.data.ravel(), xmap.prop["explained"], rtol=1e-6, atol=1e-6
    )


def test_results_saved_before_the_new_columns_still_convert(sample):
    s, _, model, _, _ = sample
    om = s.get_orientation_map_transformer(model, show_progressbar=False)
    old = om.isig[:7]  # the seven columns of earlier releases
    old.metadata.set_item("Transformer.columns", list(COLUMNS[:7]))
    old.set_signal_type("transformer_orientation_map")
    xmap = old.to_crystal_map()
    assert set(xmap.prop) == {"confidence", "n_tokens"}
    np.testing.assert_allclose(
        xmap.rotations.data, om.to_crystal_map().rotations.data, atol=1e-6
    )


def test_confidence_auc_ranks_a_map_by_its_confidence(sample):
    s, truth, model, _, _ = sample
    xmap = s.get_orientation_map_transformer(
        model, show_progressbar=False
    ).to_crystal_map()
    # Make half the pixels wrong (a 20° turn) and give them low confidence.
    wrong = np.arange(xmap.size) % 2 == 1
    q = xmap.rotations.data.copy()
    q[wrong] = (Rotation(q[wrong]) * Rotation.from_axes_angles([1, 0, 0], 0.35)).data

    def turned(prop):
        return CrystalMap(
            Rotation(q), xmap.phase_id, xmap.x, xmap.y, xmap.phases, prop=prop
        )

    conf = np.where(wrong, 0.2, 0.9)
    assert confidence_auc(turned({"confidence": conf}), truth) == pytest.approx(1.0)
    backwards = turned({"confidence": 1.1 - conf})
    assert confidence_auc(backwards, truth) == pytest.approx(0.0)
    assert np.isnan(confidence_auc(turned({}), truth))


def test_roc_auc_counts_pairs_and_ties():
    score = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    label = np.array([False, False, True, True, True])
    pos, neg = score[label], score[~label]
    pairs = (pos[:, None] > neg).mean() + 0.5 * (pos[:, None] == neg).mean()
    assert roc_auc(score, label) == pytest.approx(pairs)
    assert np.isnan(roc_auc(score, np.ones(5, bool)))


def test_an_unknown_result_column_is_refused():
    q = np.tile([1.0, 0, 0, 0], (2, 2, 1, 1))
    zeros = np.zeros((2, 2, 1))
    with pytest.raises(ValueError, match="Unknown column"):
        orientation_map_from_arrays(q, zeros, zeros, [pxt.phases.cu()], quality=zeros)
