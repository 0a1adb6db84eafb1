import numpy as np
import pytest
from diffsims.generators.simulation_generator import SimulationGenerator
from orix.crystal_map import Phase
from pyxem.signals import Diffraction2D, LazyDiffraction2D

from pyxem_transformer import data, phases


def test_sample_shapes_and_calibration(cu_sample):
    s, truth = cu_sample
    assert isinstance(s, Diffraction2D)
    assert s.data.shape == (8, 8, 128, 128)
    assert truth.shape == (8, 8)
    kx, ky = s.axes_manager.signal_axes
    for axis in (kx, ky):
        assert axis.units == r"$\AA^{-1}$"
        assert axis.scale == pytest.approx(0.02)
        # The direct beam, at the detector centre, is at k = 0.
        assert axis.offset + 63.5 * axis.scale == pytest.approx(0)
    assert s.metadata.Acquisition_instrument.TEM.beam_energy == 200
    assert s.data.max() == pytest.approx(1)


def test_direct_beam_at_centre_and_grains_share_a_pattern(cu_sample):
    s, truth = cu_sample
    mean = s.data.mean(axis=(0, 1))
    centre = np.unravel_index(np.argmax(mean), mean.shape)
    assert centre in [(63, 63), (63, 64), (64, 63), (64, 64)]
    grain = truth.prop["grain_id"].reshape(8, 8)
    a, b = np.argwhere(grain == grain[0, 0])[[0, -1]]
    np.testing.assert_array_equal(s.data[tuple(a)], s.data[tuple(b)])


def test_spots_sit_where_diffsims_puts_them_after_fliplr():
    cu = phases.cu()
    s, truth = data.simulated_grains(cu, scan_shape=(1, 1), n_grains=1, seed=7)
    sim = SimulationGenerator(200).calculate_diffraction2d(
        cu, rotation=truth.rotations, reciprocal_radius=1.8, max_excitation_error=0.1
    )
    xy = sim.coordinates.data[:, :2]
    strongest = np.argsort(sim.coordinates.intensity)[-3:]
    image = s.data[0, 0]
    for kx, ky in xy[strongest]:
        col = 63.5 - kx / 0.02  # fliplr mirrors x
        row = 63.5 + ky / 0.02
        r, c = int(round(row)), int(round(col))
        if 2 <= r < 126 and 2 <= c < 126:
            window = image[r - 2 : r + 3, c - 2 : c + 3]
            assert window.max() == image[r - 4 : r + 5, c - 4 : c + 5].max()
            assert window.max() > 1e-4


def test_seed_makes_samples_reproducible():
    a = data.simulated_grains(phases.al(), scan_shape=(4, 4), n_grains=3, seed=11)
    b = data.simulated_grains(phases.al(), scan_shape=(4, 4), n_grains=3, seed=11)
    c = data.simulated_grains(phases.al(), scan_shape=(4, 4), n_grains=3, seed=12)
    np.testing.assert_array_equal(a.signal.data, b.signal.data)
    np.testing.assert_array_equal(a.truth.rotations.data, b.truth.rotations.data)
    assert not np.array_equal(a.truth.rotations.data, c.truth.rotations.data)


def test_dose_gives_poisson_counts():
    s, _ = data.simulated_grains(
        phases.cu(), scan_shape=(3, 3), n_grains=2, dose=3000, seed=1
    )
    counts = s.data.reshape(9, -1)
    np.testing.assert_array_equal(counts, np.round(counts))
    totals = counts.sum(axis=1)
    # Poisson total of mean 3000 has a standard deviation of about 55.
    assert np.all(np.abs(totals - 3000) < 300)
    assert len(np.unique(totals)) > 1  # independent noise per pixel


def test_two_phases_both_present_with_truth_phase_list():
    s, truth = data.simulated_grains(
        [phases.cu(), phases.cu2o()], scan_shape=(6, 6), n_grains=4, seed=2
    )
    assert truth.phases.names == ["Cu", "Cu2O"]
    assert set(np.unique(truth.phase_id)) == {0, 1}


def test_line_scan_and_lazy():
    s, truth = data.simulated_grains(
        phases.fe_bcc(), scan_shape=(5,), n_grains=2, lazy=True
    )
    assert isinstance(s, LazyDiffraction2D)
    assert s.axes_manager.navigation_shape == (5,)
    assert truth.size == 5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"calibration": 0}, "calibration"),
        ({"disk_sigma": -1}, "disk_sigma"),
        ({"dose": 0}, "dose"),
        ({"n_grains": 0}, "n_grains"),
        ({"scan_shape": (2, 2, 2)}, "scan_shape"),
        ({"detector_shape": (64,)}, "detector_shape"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.simulated_grains(phases.cu(), **kwargs)


def test_phase_without_atoms_is_rejected():
    with pytest.raises(ValueError, match="no atoms"):
        data.simulated_grains(Phase("empty", space_group=225))
    with pytest.raises(TypeError, match="Phase"):
        data.simulated_grains(["Cu"])
    with pytest.raises(ValueError, match="distinct"):
        data.simulated_grains([phases.cu(), phases.cu()])
