import numpy as np
import pytest
from scipy.spatial import cKDTree

from pyxem_transformer import data, phases
from pyxem_transformer.tokens.peaks import (
    PeakSet,
    find_peaks_batched,
    peaks_from_diffraction_vectors,
)
from pyxem_transformer.tokens.tokenize import TokenSettings, make_tokens


def _calibration(signal):
    axes = signal.axes_manager.signal_axes
    return (axes[0].scale, axes[1].scale), (axes[0].offset, axes[1].offset)


@pytest.fixture(scope="module")
def sample():
    return data.simulated_grains(phases.cu(), scan_shape=(4, 4), n_grains=5, seed=4)


def test_same_peaks_as_pyxem_local_max_within_half_a_pixel(sample):
    s, _ = sample
    scale, offset = _calibration(s)
    vectors = s.get_diffraction_vectors(
        method="local_max", threshold_abs=0.002, min_distance=3, show_progressbar=False
    )
    theirs = peaks_from_diffraction_vectors(vectors)
    ours = find_peaks_batched(  # pyxem's threshold (the patterns' maximum is 1)
        s.data.reshape(-1, 128, 128),
        scale,
        offset,
        smooth_sigma=None,
        threshold_rel=0.002,
    )
    inner = 1.27 - 4 * 0.02  # skimage excludes peaks near the border
    n_matched = n_theirs = 0
    for i in range(theirs.n_patterns):
        a, b = theirs.pattern(i), ours.pattern(i)
        a = a[(np.abs(a[:, :2]) < inner).all(axis=1)]
        b = b[(np.abs(b[:, :2]) < inner).all(axis=1)]
        assert len(a) == len(b)
        d, _ = cKDTree(b[:, :2]).query(a[:, :2])
        # pyxem reports whole pixels, ours sub-pixel positions.
        n_matched += int(np.sum(d <= 0.5 * 0.02 * np.sqrt(2) + 1e-6))
        n_theirs += len(a)
    assert n_theirs > 100
    assert n_matched == n_theirs

    # ... and so do the tokens made from them.
    settings = TokenSettings(n_tokens=8, max_radius=inner)
    t_theirs, m_theirs = make_tokens(theirs, settings)
    t_ours, m_ours = make_tokens(ours, settings)
    np.testing.assert_array_equal(m_theirs, m_ours)
    for a, b, m in zip(t_theirs, t_ours, m_ours, strict=True):
        d, _ = cKDTree(b[m, :2]).query(a[m, :2])
        assert np.all(d <= 0.5 * 0.02 * np.sqrt(2) + 1e-6)


def test_sub_pixel_positions_hit_the_true_centre():
    image = np.zeros((1, 40, 40), np.float32)
    rows, cols = np.indices((40, 40))
    for r0, c0 in [(10.3, 20.7), (25.5, 9.2), (30.0, 30.45)]:
        image[0] += np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / 8)
    p = find_peaks_batched(image, (1.0, 1.0), (0.0, 0.0), smooth_sigma=None)
    found = sorted(zip(p.ky.round(3), p.kx.round(3), strict=True))
    np.testing.assert_allclose(
        found, [(10.3, 20.7), (25.5, 9.2), (30.0, 30.45)], atol=0.02
    )


def test_dtype_and_scale_do_not_change_the_peaks(sample):
    s, _ = sample
    scale, offset = _calibration(s)
    images = s.data[:1, :2].reshape(-1, 128, 128)
    # One smoothing for both: "auto" takes the rounded copy for counts.
    as_float = find_peaks_batched(images, scale, offset, smooth_sigma=1.0)
    as_counts = find_peaks_batched(
        (images * 4000).astype(np.uint16), scale, offset, smooth_sigma=1.0
    )
    assert np.array_equal(as_float.counts, as_counts.counts)
    np.testing.assert_allclose(as_float.kx, as_counts.kx, atol=0.002)


def test_auto_smoothing_merges_the_electrons_of_a_weak_disk():
    # Four weak disks (sigma 2 px) of about 8 electrons each, and a strong
    # one: at 1 px of smoothing a weak disk's scattered electrons become
    # several peaks; "auto" sees counts and smooths at the disk's scale.
    rng = np.random.default_rng(0)
    rows, cols = np.indices((64, 64))
    centres = [(16.3, 15.6), (16.8, 47.2), (47.5, 16.1), (47.1, 47.7), (32.2, 31.6)]
    expected = sum(
        (400.0 if k == 4 else 8.0)
        / (8 * np.pi)
        * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 8)
        for k, (r, c) in enumerate(centres)
    )
    counts = rng.poisson(np.broadcast_to(expected, (20, 64, 64))).astype(np.uint16)
    fine = find_peaks_batched(counts, (1, 1), (0, 0), smooth_sigma=1.0)
    auto = find_peaks_batched(counts, (1, 1), (0, 0))
    matched = find_peaks_batched(counts, (1, 1), (0, 0), smooth_sigma=2.0)
    np.testing.assert_array_equal(auto.kx, matched.kx)
    # Gain and dtype do not change the verdict.
    scaled = find_peaks_batched(counts * np.float32(37.5), (1, 1), (0, 0))
    np.testing.assert_allclose(scaled.kx, auto.kx, atol=1e-4)
    assert fine.counts.mean() > 6 and auto.counts.mean() < 5.5
    tree = cKDTree(np.array(centres)[:, ::-1])
    d_auto = tree.query(np.stack([auto.kx, auto.ky], 1))[0]
    d_fine = tree.query(np.stack([fine.kx, fine.ky], 1))[0]
    assert np.median(d_auto) < 0.7 * np.median(d_fine)
    # Continuous (noise-free) patterns keep the 1 px smoothing.
    clean = expected[None].astype(np.float32)
    np.testing.assert_array_equal(
        find_peaks_batched(clean, (1, 1), (0, 0)).kx,
        find_peaks_batched(clean, (1, 1), (0, 0), smooth_sigma=1.0).kx,
    )
    # Nor do counts with an offset (not plain counts any more).
    offset = counts[:1].astype(np.float32) - 1
    np.testing.assert_array_equal(
        find_peaks_batched(offset, (1, 1), (0, 0)).kx,
        find_peaks_batched(offset, (1, 1), (0, 0), smooth_sigma=1.0).kx,
    )
    for bad in ("matched", -1.0):
        with pytest.raises(ValueError, match="smooth_sigma"):
            find_peaks_batched(clean, (1, 1), (0, 0), smooth_sigma=bad)


def test_empty_and_nan_patterns_give_no_peaks():
    images = np.zeros((3, 16, 16), np.float32)
    images[1] = np.nan
    images[2, 8, 8] = 1.0
    images[2, 3, 3] = np.nan
    p = find_peaks_batched(images, (0.1, 0.1), (-0.8, -0.8))
    assert p.counts.tolist() == [0, 0, 1]


def test_max_peaks_keeps_the_strongest():
    image = np.zeros((1, 32, 32), np.float32)
    for k, (r, c) in enumerate([(5, 5), (5, 20), (20, 5), (20, 20), (12, 12)]):
        image[0, r, c] = k + 1.0
    p = find_peaks_batched(image, (1, 1), (0, 0), smooth_sigma=None, max_peaks=2)
    assert sorted(p.intensity.tolist()) == [4.0, 5.0]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="shape"):
        find_peaks_batched(np.zeros((16, 16)), (1, 1), (0, 0))
    with pytest.raises(ValueError, match="offsets"):
        PeakSet([0.0], [0.0], [1.0], [0, 2])


def test_peak_set_helpers():
    a = PeakSet.from_lists([np.ones((2, 3)), np.zeros((0, 3))])
    b = PeakSet.from_lists([np.full((1, 3), 2.0)])
    joined = PeakSet.concatenate([a, b])
    assert joined.counts.tolist() == [2, 0, 1]
    assert joined.pattern_index.tolist() == [0, 0, 2]
    np.testing.assert_array_equal(joined.pattern(2), [[2, 2, 2]])


def test_an_unknown_background_rule_is_named():
    images = np.zeros((1, 16, 16), np.float32)
    with pytest.raises(ValueError, match="`background` must be 'radial' or 'flat'"):
        find_peaks_batched(images, (0.1, 0.1), (-0.8, -0.8), background="ring")
