"""Bad input gets a clear message naming the problem, never a silent answer."""

import warnings

import numpy as np
import pytest

import pyxem_transformer as pxt
from pyxem_transformer.tokens import CalibrationWarning, DataWarning


@pytest.fixture(scope="module")
def model():
    return pxt.pretrained("cu")


@pytest.fixture()
def sample():
    s, _ = pxt.data.simulated_grains(
        pxt.phases.cu(), scan_shape=(6, 6), dose=3000, seed=3, n_grains=3
    )
    return s


def _map(s, model):
    return s.get_orientation_map_transformer(model, show_progressbar=False)


def test_detector_too_small_for_the_phases_is_refused(sample, model):
    for axis in sample.axes_manager.signal_axes:  # 0.002 1/Å per pixel: 10x off
        axis.scale /= 10
        axis.offset /= 10
    with pytest.raises(ValueError, match=r"detector reaches \|k\| = 0.12") as info:
        _map(sample, model)
    assert "Cu at 0.479 1/Å" in str(info.value)


def test_wildly_wrong_calibration_warns(sample, model):
    for axis in sample.axes_manager.signal_axes:  # stored 40% too large
        axis.scale *= 1.4
        axis.offset *= 1.4
    with pytest.warns(CalibrationWarning, match="calibration looks off"):
        _map(sample, model)


def test_negative_and_nan_pixels_warn_and_are_not_indexed(sample, model):
    sample.data = sample.data.astype(np.float32) - 1.0  # a detector offset
    sample.data[0, 0] = np.nan
    with pytest.warns(DataWarning) as record:
        result = _map(sample, model)
    message = " ".join(str(r.message) for r in record)
    assert "negative" in message and "NaN" in message
    xmap = result.to_crystal_map()
    assert xmap.phase_id[0] == -1  # the all-NaN pattern
    assert (xmap.phase_id[1:] == 0).mean() > 0.9


def test_all_zero_patterns_warn_and_are_not_indexed(sample, model):
    sample.data[:3] = 0
    with pytest.warns(DataWarning, match="all zero"):
        result = _map(sample, model)
    assert np.all(result.to_crystal_map().phase_id.reshape(6, 6)[:3] == -1)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint32, np.float64])
def test_integer_and_float_types_give_the_same_map(sample, model, dtype):
    reference = _map(sample, model).to_crystal_map()
    data = sample.data.astype(np.float64)
    if dtype is np.uint8:  # counts saturating an 8-bit detector
        data = np.clip(data * 255 / data.max(), 0, 255)
    elif dtype is np.uint32:
        data = data * 1e5  # large counts, would overflow 16-bit arithmetic
    sample.data = np.round(data).astype(dtype) if dtype is not np.float64 else data
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        other = _map(sample, model).to_crystal_map()
    assert np.mean(other.phase_id == reference.phase_id) == 1.0
    angle = pxt.metrics.misorientation_angles(
        other.rotations, reference.rotations, pxt.phases.cu().point_group
    )
    assert np.median(angle) < 0.5
