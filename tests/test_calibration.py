import warnings

import numpy as np
import pytest

import pyxem_transformer as pxt
from pyxem_transformer import metrics
from pyxem_transformer.calibration import CalibrationWarning, estimate_calibration
from pyxem_transformer.peaks import PeakSet


def _miscalibrated(error: float, centre_px: float = 0.0, dose=3000.0, scan=16):
    s, truth = pxt.data.simulated_grains(
        pxt.phases.cu(), scan_shape=(scan, scan), dose=dose, seed=4, n_grains=12
    )
    for axis in s.axes_manager.signal_axes:
        axis.offset += centre_px * axis.scale
        axis.scale *= 1 + error
        axis.offset *= 1 + error
    return s, truth


@pytest.fixture(scope="module")
def cu_model():
    return pxt.pretrained("cu")


@pytest.mark.parametrize("error", [0.0, 0.05, 0.09, -0.05, -0.09])
def test_scale_error_is_found_within_one_percent(error, cu_model):
    s, _ = _miscalibrated(error)
    check = pxt.check_calibration(s, cu_model)
    # The stored scale times the factor is the true 0.02 1/Å per pixel.
    assert check.scale * (1 + error) == pytest.approx(1.0, abs=0.01)
    assert check.scale_uncertainty < 0.005
    assert check.within_tolerance == (error == 0.0)


def test_centre_offset_is_found_and_apply_corrects_it(cu_model):
    s, _ = _miscalibrated(0.05, centre_px=1.0)
    check = pxt.check_calibration(s, cu_model)
    expected = 0.02 * 1.05  # one pixel, in the stored (wrong) calibration
    np.testing.assert_allclose(check.centre_offset, expected, atol=0.004)
    assert "calibration factor" in str(check)
    check.apply(s)
    np.testing.assert_allclose(
        [a.scale for a in s.axes_manager.signal_axes], 0.02, rtol=0.01
    )
    again = pxt.check_calibration(s, cu_model)
    assert again.within_tolerance
    assert abs(again.scale - 1) < 0.005


def test_two_phase_model_checks_against_both_lattices():
    model = pxt.pretrained("cu_cu2o")
    s, _ = pxt.data.simulated_grains(
        [pxt.phases.cu(), pxt.phases.cu2o()], scan_shape=(16, 16), dose=3000, seed=2
    )
    for axis in s.axes_manager.signal_axes:
        axis.scale *= 1.05
        axis.offset *= 1.05
    check = pxt.check_calibration(s, model)
    assert check.scale * 1.05 == pytest.approx(1.0, abs=0.01)


def test_mapping_warns_only_when_off_and_stays_accurate(cu_model):
    s, truth = _miscalibrated(0.0, scan=24)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        right = s.get_orientation_map_transformer(cu_model, show_progressbar=False)
    s_off, _ = _miscalibrated(0.03, centre_px=1.0, scan=24)
    with pytest.warns(CalibrationWarning, match="calibration looks off"):
        off = s_off.get_orientation_map_transformer(cu_model, show_progressbar=False)
    a = metrics.compare_crystal_maps(right.to_crystal_map(), truth).summary()
    b = metrics.compare_crystal_maps(off.to_crystal_map(), truth).summary()
    # 3% scale and 1 px centre error: the refinement absorbs them.
    assert b.fraction_under_2 >= a.fraction_under_2 - 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        s_off.get_orientation_map_transformer(
            cu_model, show_progressbar=False, calibration_check=False
        )


def test_too_few_peaks_is_a_clear_error():
    empty = PeakSet.from_lists([np.zeros((0, 3), np.float32)] * 5)
    with pytest.raises(ValueError, match="direct beam"):
        estimate_calibration(empty, [pxt.phases.cu()])
