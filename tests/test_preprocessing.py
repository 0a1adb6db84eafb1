import numpy as np
import pytest

import pyxem_transformer as pxt
from pyxem_transformer.tokens.peaks import find_peaks_batched


@pytest.fixture(scope="module")
def sample():
    return pxt.data.simulated_grains(
        pxt.phases.cu(), scan_shape=(8, 8), dose=3000, seed=1, n_grains=4
    )


def test_off_centre_beam_is_centred(sample):
    s, _ = sample
    shifted = s.deepcopy()
    shifted.data = np.roll(shifted.data, (2, -1), axis=(-2, -1))
    model = pxt.pretrained("cu")
    before = pxt.check_calibration(shifted, model)
    assert not before.within_tolerance
    centred = pxt.preprocess(shifted)
    after = pxt.check_calibration(centred, model)
    assert np.hypot(*after.centre_offset) < 0.01  # half a pixel
    assert np.array_equal(shifted.data, np.roll(s.data, (2, -1), axis=(-2, -1)))


def test_lazy_background_and_gamma_keep_the_peaks(sample):
    s, _ = sample
    lazy = s.as_lazy()
    out = pxt.preprocess(
        lazy,
        center=False,
        background="difference of gaussians",
        background_kwargs={"min_sigma": 1, "max_sigma": 8},
        gamma=0.5,
    )
    assert out._lazy
    out.compute()
    assert np.all(out.data >= 0)
    scale = tuple(a.scale for a in s.axes_manager.signal_axes)
    offset = tuple(a.offset for a in s.axes_manager.signal_axes)
    found = find_peaks_batched(out.data.reshape(-1, 128, 128), scale, offset)
    plain = find_peaks_batched(s.data.reshape(-1, 128, 128), scale, offset)
    assert abs(found.counts.mean() - plain.counts.mean()) < 0.3 * plain.counts.mean()


def test_bad_options_are_named(sample):
    s, _ = sample
    with pytest.raises(ValueError, match="background method"):
        pxt.preprocess(s, background="rolling ball")
    with pytest.raises(ValueError, match="gamma"):
        pxt.preprocess(s, gamma=-1)


def test_peak_threshold_does_not_depend_on_intensity_units(sample):
    s, _ = sample
    counts = s.data.reshape(-1, 128, 128)
    scale = (0.02, 0.02)
    offset = tuple(a.offset for a in s.axes_manager.signal_axes)
    reference = find_peaks_batched(counts.astype(np.uint16), scale, offset)
    for data in (counts.astype(np.float32) / counts.max(), counts * 37.0):
        other = find_peaks_batched(data, scale, offset)
        # Same peaks up to float rounding of peaks right at the threshold
        # (and ties between equal neighbouring pixels of integer counts).
        assert np.all(np.abs(other.counts - reference.counts) <= 1)
        assert np.mean(other.counts != reference.counts) <= 0.1
        matched = []
        for i in range(reference.n_patterns):
            a, b = other.pattern(i)[:, :2], reference.pattern(i)[:, :2]
            if len(a) and len(b):
                distance = np.linalg.norm(a[:, None] - b[None], axis=-1)
                matched.extend(distance.min(1) < 0.002)
        assert np.mean(matched) > 0.97
