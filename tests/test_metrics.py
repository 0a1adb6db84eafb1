import numpy as np
import pytest
from orix.crystal_map import CrystalMap, PhaseList
from orix.quaternion import Rotation

from pyxem_transformer import data, metrics, phases


def _rot_z(degrees):
    return Rotation.from_axes_angles([0, 0, 1], np.deg2rad(degrees))


def test_symmetry_equivalent_rotations_score_zero():
    cu = phases.cu()
    rng = np.random.default_rng(0)
    r = data.random_rotations(50, rng)
    ops = cu.point_group[rng.integers(cu.point_group.size, size=50)]
    # Crystal symmetry acts on the crystal side: S * R describes the same crystal.
    equivalent = Rotation(ops.data) * r
    angles = metrics.misorientation_angles(equivalent, r, cu.point_group, False)
    np.testing.assert_allclose(angles, 0, atol=1e-5)


def test_known_angle_and_cubic_reduction():
    pg = phases.cu().point_group
    angles = metrics.misorientation_angles(
        _rot_z([10, 95]), Rotation.identity((2,)), pg
    )
    np.testing.assert_allclose(angles, [10, 5], atol=1e-6)


def test_friedel_twin_counts_only_when_asked():
    ti = phases.ti()
    rng = np.random.default_rng(1)
    r = data.random_rotations(20, rng)
    twin = r * metrics.FRIEDEL_TWIN
    strict = metrics.misorientation_angles(twin, r, ti.point_group, friedel=False)
    lenient = metrics.misorientation_angles(twin, r, ti.point_group, friedel=True)
    assert np.all(strict > 10)
    np.testing.assert_allclose(lenient, 0, atol=1e-5)
    # The twin gives the same zone axis.
    np.testing.assert_allclose(
        metrics.zone_axis_angles(twin, r, ti.point_group), 0, atol=1e-5
    )


def test_zone_axis_ignores_in_plane_angle():
    pg = phases.cu().point_group
    r = data.random_rotations(10, np.random.default_rng(2))
    turned = r * _rot_z(np.full(10, 37.0))
    np.testing.assert_allclose(metrics.zone_axis_angles(turned, r, pg), 0, atol=1e-4)
    # Tilting the [001] zone axis by 4 degrees (no other equivalent is closer).
    tilted = _rot_z([30.0]) * Rotation.from_axes_angles([1, 0, 0], np.deg2rad(4))
    np.testing.assert_allclose(
        metrics.zone_axis_angles(tilted, Rotation.identity((1,)), pg), 4, atol=1e-4
    )


def _two_phase_map(phase_id, rotations, order=("Cu", "Cu2O")):
    plist = PhaseList(phases=[phases.by_name(n) for n in order], ids=[0, 1])
    n = len(phase_id)
    return CrystalMap(
        rotations=rotations,
        phase_id=np.asarray(phase_id),
        x=np.arange(n, dtype=float),
        phase_list=plist,
    )


def test_compare_maps_matches_phases_by_name_and_flags_wrong_phase():
    r = data.random_rotations(4, np.random.default_rng(3))
    truth = _two_phase_map([0, 0, 1, 1], r)
    # Same physical answer with phase ids numbered the other way round ...
    pred = _two_phase_map([1, 1, 0, 1], r * _rot_z([0, 3, 0, 0]), ("Cu2O", "Cu"))
    comparison = metrics.compare_crystal_maps(pred, truth)
    # ... except pixel 3, which is given the wrong phase.
    np.testing.assert_array_equal(comparison.phase_correct, [True, True, True, False])
    np.testing.assert_allclose(comparison.misorientation[:3], [0, 3, 0], atol=1e-4)
    assert np.isnan(comparison.misorientation[3])
    summary = comparison.summary()
    assert summary.phase_accuracy == 0.75
    assert summary.fraction_under_2 == 0.5
    assert summary.fraction_under_5 == 0.75
    assert summary.median_misorientation == pytest.approx(1.5, abs=1e-3)
    assert summary.as_dict()["friedel"] is True


def test_summary_ranks_failures_last():
    summary = metrics.summarize(np.array([1.0, np.nan, np.nan]))
    assert summary.median_misorientation == np.inf
    assert summary.phase_accuracy == pytest.approx(1 / 3)


def test_compare_maps_rejects_different_scans():
    r = data.random_rotations(4, np.random.default_rng(4))
    with pytest.raises(ValueError, match="different scans"):
        metrics.compare_crystal_maps(
            _two_phase_map([0, 0, 0], r[:3]), _two_phase_map([0, 0, 0, 0], r)
        )


def test_rotation_arrays_are_accepted_and_checked():
    pg = phases.cu().point_group
    q = np.tile([1.0, 0, 0, 0], (3, 1))
    np.testing.assert_allclose(metrics.misorientation_angles(q, q, pg), 0, atol=1e-6)
    with pytest.raises(ValueError, match="last axis of 4"):
        metrics.misorientation_angles(np.zeros((3, 3)), q, pg)
    with pytest.raises(ValueError, match="Cannot compare 2"):
        metrics.misorientation_angles(q[:2], q, pg)


def test_large_maps_are_vectorised():
    # 4096 pixels go through one vectorised call (no Python loop per pixel).
    r = data.random_rotations(4096, np.random.default_rng(5))
    angles = metrics.misorientation_angles(
        r, r * _rot_z(np.full(4096, 1.0)), phases.cu().point_group
    )
    np.testing.assert_allclose(angles, 1, atol=1e-4)
