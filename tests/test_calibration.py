import warnings

import numpy as np
import pytest

import pyxem_transformer as pxt
from pyxem_transformer import metrics
from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.tokens.calibration import (
    CalibrationWarning,
    estimate_calibration,
)


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
    # 3% scale and 1 px centre error: mapped with the estimated calibration.
    assert b.fraction_under_2 >= a.fraction_under_2 - 0.05
    assert not right.metadata.Transformer.calibration["estimated"]
    used = off.metadata.Transformer.calibration
    assert used["estimated"] and "calibration factor" in used["check"]
    np.testing.assert_allclose(used["scale"], 0.02, rtol=0.01)
    # The signal itself is left as it was.
    assert s_off.axes_manager.signal_axes[0].scale == pytest.approx(0.02 * 1.03)
    # "warn": the stored calibration is used; measured from the stored
    # centre too, the map is worse for it.
    with pytest.warns(CalibrationWarning, match="calibration_check=True"):
        stored = s_off.get_orientation_map_transformer(
            cu_model, show_progressbar=False, calibration_check="warn", find_beam=False
        )
    assert not stored.metadata.Transformer.calibration["estimated"]
    c = metrics.compare_crystal_maps(stored.to_crystal_map(), truth).summary()
    assert c.fraction_under_2 < b.fraction_under_2
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        s_off.get_orientation_map_transformer(
            cu_model, show_progressbar=False, calibration_check=False
        )
    with pytest.raises(ValueError, match="calibration_check"):
        s_off.get_orientation_map_transformer(cu_model, calibration_check="yes")


def test_corrected_calibration_is_what_apply_sets(cu_model):
    s, _ = _miscalibrated(0.05, centre_px=1.0)
    check = pxt.check_calibration(s, cu_model)
    axes = s.axes_manager.signal_axes
    scale, offset = check.corrected(
        tuple(a.scale for a in axes), tuple(a.offset for a in axes)
    )
    check.apply(s)
    assert scale == tuple(a.scale for a in axes)
    assert offset == tuple(a.offset for a in axes)
    assert check.reliable


def test_too_few_peaks_is_a_clear_error():
    empty = PeakSet.from_lists([np.zeros((0, 3), np.float32)] * 5)
    with pytest.raises(ValueError, match="direct beam"):
        estimate_calibration(empty, [pxt.phases.cu()])


def test_peaks_found_with_the_stored_calibration_move_to_the_estimate():
    from pyxem_transformer.mapping.inference import _recalibrated
    from pyxem_transformer.tokens.peaks import find_peaks_batched

    s, _ = _miscalibrated(0.0, scan=4)
    images = s.data.reshape(-1, *s.data.shape[-2:])
    stored = ((0.021, 0.021), (-1.3, -1.31))
    corrected = ((0.02, 0.0205), (-1.27, -1.29))
    moved = _recalibrated(find_peaks_batched(images, *stored), stored, corrected)
    direct = find_peaks_batched(images, *corrected)
    np.testing.assert_allclose(moved.kx, direct.kx, atol=1e-6)
    np.testing.assert_allclose(moved.ky, direct.ky, atol=1e-6)
    np.testing.assert_array_equal(moved.offsets, direct.offsets)


def test_direct_beam_and_strongest_bragg_peaks_per_pattern():
    from pyxem_transformer.tokens._calibration_fit import _beam_and_bragg

    rng = np.random.default_rng(3)
    bragg = rng.uniform(-1.0, 1.0, (12, 2)) + 0.3
    patterns = [
        # Beam (brightest near the centre) plus 12 Bragg peaks, two of them
        # tied at the cut of the 8 strongest; a fainter peak near the centre.
        np.vstack(
            [
                [[0.01, -0.02, 5.0], [0.05, 0.05, 0.5]],
                np.c_[bragg, [9, 8, 7, 6, 5, 4, 3, 2.5, 2.5, 1, 0.9, 0.8]],
            ]
        ),
        np.array([[0.5, 0.5, 3.0], [0.7, 0.1, 2.0]]),  # no beam: left out
        np.array([[0.0, 0.0, 4.0]]),  # one peak: left out
        np.zeros((0, 3)),
        np.array([[0.7, 0.1, 1.0], [-0.02, 0.01, 2.0]]),  # beam second
    ]
    peaks = PeakSet.from_lists([p.astype(np.float32) for p in patterns])
    centres, vectors, weight, owner = _beam_and_bragg(peaks, 0.15, strongest=8)
    np.testing.assert_allclose(centres, [[0.01, -0.02], [-0.02, 0.01]], atol=1e-6)
    np.testing.assert_array_equal(owner, [0] * 8 + [1])
    # Brightest first; of the tied pair the later peak.
    expected = np.vstack([bragg[:7], bragg[8:9]]) - [0.01, -0.02]
    np.testing.assert_allclose(vectors[:8], expected, atol=1e-6)
    np.testing.assert_allclose(vectors[8], [0.72, 0.09], atol=1e-6)
    np.testing.assert_allclose(
        weight[:8], np.sqrt(np.r_[9, 8, 7, 6, 5, 4, 3, 2.5] / 5.0), rtol=1e-6
    )
    np.testing.assert_allclose(weight[8], np.sqrt(0.5), rtol=1e-6)


def test_a_small_scan_gets_an_estimate_with_its_precision():
    # Four patterns: every peak of each counts, and the estimate says how
    # precise it is (sizes and seed of this test only).
    s, _ = pxt.data.simulated_grains(
        pxt.phases.cu(), scan_shape=(2, 2), n_grains=2, dose=3000, seed=31
    )
    for axis in s.axes_manager.signal_axes:
        axis.scale *= 1.03
        axis.offset *= 1.03
    check = pxt.check_calibration(s, pxt.pretrained("cu"))
    assert check.n_patterns == 4 and check.n_peaks >= 12
    assert 0 < check.scale_uncertainty < 0.01
    assert abs(check.scale * 1.03 - 1) < 3 * check.scale_uncertainty + 0.003


@pytest.mark.parametrize("ellipticity", [0.0, 0.03])
def test_lens_ellipticity_is_measured_and_only_a_firm_one_corrected(ellipticity):
    # A 3% stretch along one axis: radii 1.5% long along it, 1.5% short
    # across; drawn by the measured-data renderer (seed of this test only).
    from pyxem_transformer.evaluation.measured import Artefacts, realistic_grains

    art = Artefacts(ellipticity=ellipticity, descan_px=0, descan_jitter_px=0)
    s, _ = realistic_grains(
        [pxt.phases.cu()], (16, 16), art, 3000, n_grains=40, seed=41
    )
    check = pxt.check_calibration(s, pxt.pretrained("cu"))
    assert check.ellipticity == pytest.approx(ellipticity / 2, abs=0.004)
    assert check.significant_ellipticity == (ellipticity > 0)
    if ellipticity:
        matrix = check.undistortion()
        # Undoes the stretch: a unit vector along the long axis shrinks.
        angle = np.radians(check.ellipticity_axis)
        u = np.array([np.cos(angle), np.sin(angle)])
        assert np.linalg.norm(matrix @ u) == pytest.approx(
            1 - ellipticity / 2, abs=0.005
        )
