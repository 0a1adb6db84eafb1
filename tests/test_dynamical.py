"""Dynamical (Bloch-wave, abTEM) and precession physics: geometry against
diffsims, the physics mixture of training sets, and the test scans."""

import builtins
import itertools

import numpy as np
import pytest
from diffsims.generators.simulation_generator import SimulationGenerator
from orix.quaternion import Orientation

import pyxem_transformer as pxt
from pyxem_transformer import phases, simulation
from pyxem_transformer.crystal.phase_io import diffsims_phase
from pyxem_transformer.evaluation.cases import CASES, NEEDS_ABTEM
from pyxem_transformer.simulation.physics import PHYSICS, draw_physics

abtem = pytest.importorskip("abtem", reason="needs the dynamical extra")

from pyxem_transformer.evaluation.dynamical import dynamical_grains  # noqa: E402
from pyxem_transformer.simulation.dynamical import bloch_spots  # noqa: E402


def _lattice_positions(phase, rotation):
    """Detector positions of every lattice point (extinct ones too)."""
    base = phase.structure.lattice.reciprocal().base
    hkl = np.array(list(itertools.product(range(-9, 10), repeat=3)))
    g = hkl @ base
    v = g[np.linalg.norm(g, axis=1) < 3] @ rotation.to_matrix()[0]  # M.T g
    return np.stack([-v[:, 0], v[:, 1]], 1)


@pytest.mark.parametrize("name", ["cu", "ti", "cu2o"])
def test_bloch_spots_sit_where_diffsims_puts_the_reflections(name):
    phase = phases.by_name(name)
    rotations = simulation.random_rotations(3, np.random.default_rng(11))
    result = bloch_spots(phase, rotations, 300.0)
    generator = SimulationGenerator(200.0)
    kinematic = generator.calculate_diffraction2d(
        diffsims_phase(phase),
        rotation=Orientation(rotations.data),
        reciprocal_radius=1.5,
        max_excitation_error=0.03,
        with_direct_beam=False,
    )
    for k, (spots, sim) in enumerate(
        zip(result.spots, kinematic.coordinates, strict=True)
    ):
        # Every Bloch beam is a lattice point of the same rotation (beams
        # kinematically extinct can light up by double diffraction) ...
        lattice = _lattice_positions(phase, rotations[k])
        d = np.hypot(*(spots[:, None, :2] - lattice[None]).transpose(2, 0, 1))
        assert d.min(1).max() < 1e-6
        # ... and every reflection diffsims excites strongly is a Bloch spot.
        xy = np.asarray(sim.data)[:, :2]
        intensity = np.asarray(sim.intensity)
        strong = xy[intensity > 0.2 * intensity.max()]
        kx, ky = -strong[:, 0], strong[:, 1]
        d = np.hypot(kx[:, None] - spots[:, 0], ky[:, None] - spots[:, 1])
        assert d.min(1).max() < 1e-6
        assert np.all(np.hypot(spots[:, 0], spots[:, 1]) <= 1.5 + 1e-9)


def test_the_direct_beam_loses_intensity_with_thickness():
    rotation = simulation.random_rotations(1, np.random.default_rng(0))
    near_zone = Orientation.from_axes_angles([1, 0, 0], np.deg2rad(0.5))
    for r in (rotation, near_zone):
        thin, thick = (bloch_spots(phases.cu(), r, t) for t in (10.0, 400.0))
        assert thin.direct[0] > 0.9
        assert thick.direct[0] < thin.direct[0]
    # Near a zone axis most of the beam is scattered by 400 Å.
    assert thick.direct[0] < 0.8
    # Without absorption nothing is lost: beam plus spots (all of them, out
    # to the beams' reach) hold the incident intensity.
    every = bloch_spots(
        phases.cu(), near_zone, 400.0, reciprocal_radius=3.0, minimum_intensity=0
    )
    assert every.direct[0] + every.spots[0][:, 2].sum() == pytest.approx(1, abs=1e-3)


def test_bloch_spots_refuse_a_bad_thickness():
    with pytest.raises(ValueError, match="thickness"):
        bloch_spots(
            phases.cu(), simulation.random_rotations(1, np.random.default_rng(1)), 0.0
        )


def test_a_missing_abtem_says_which_extra_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_abtem(name, *args, **kwargs):
        if name.startswith("abtem"):
            raise ImportError("No module named 'abtem'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_abtem)
    with pytest.raises(ImportError, match=r"pyxem-transformer\[dynamical\]"):
        bloch_spots(
            phases.cu(), simulation.random_rotations(1, np.random.default_rng(1)), 300.0
        )


def test_a_physics_mixture_draws_each_kind_in_its_ranges(tmp_path):
    settings = simulation.SimulationSettings(
        dynamical_fraction=0.4,
        precession_fraction=0.3,
        chunk_size=10,
        thickness=(80.0, 700.0),
        precession_angle=(0.6, 1.5),
    )
    s = simulation.simulate_spots(
        [phases.cu(), phases.ti()],
        60,
        settings,
        seed=2,
        show_progressbar=False,
        n_jobs=1,
        cache_dir=tmp_path,
    )
    assert set(np.unique(s.physics)) == {0, 1, 2}
    thickness = s.physics_parameter[s.physics == 1]
    angle = s.physics_parameter[s.physics == 2]
    assert np.all((thickness >= 80) & (thickness <= 700))
    assert np.all((angle >= 0.6) & (angle <= 1.5))
    assert np.all(np.isnan(s.physics_parameter[s.physics == 0]))
    # Chunks share one physics; every pattern has spots.
    assert np.all(s.physics.reshape(-1, 10).std(1) == 0)
    assert s.peaks.counts.min() > 0
    # The cache is keyed on the physics and keeps it.
    again = simulation.simulate_spots(
        [phases.cu(), phases.ti()],
        60,
        settings,
        seed=2,
        show_progressbar=False,
        cache_dir=tmp_path,
    )
    assert again.seconds == 0
    np.testing.assert_array_equal(again.physics, s.physics)
    np.testing.assert_allclose(again.physics_parameter, s.physics_parameter)
    kinematic = simulation.simulate_spots(
        [phases.cu(), phases.ti()],
        60,
        seed=2,
        show_progressbar=False,
        cache_dir=tmp_path,
    )
    assert kinematic.seconds > 0 and np.all(kinematic.physics == 0)


def test_kinematic_settings_keep_their_cache_keys_and_draws():
    key = simulation.SimulationSettings().physics_key()
    assert set(key) == {
        "accelerating_voltage",
        "reciprocal_radius",
        "max_excitation_error",
        "minimum_intensity",
        "chunk_size",
    }
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    codes = draw_physics(simulation.SimulationSettings(), 5, rng)
    assert np.all(codes == 0) and rng.bit_generator.state == state
    assert PHYSICS[0] == "kinematic"


@pytest.mark.parametrize(
    "bad",
    [
        {"dynamical_fraction": 0.7, "precession_fraction": 0.5},
        {"dynamical_fraction": -0.1},
        {"thickness": (300.0, 100.0)},
        {"precession_angle": (0.0, 1.0)},
    ],
)
def test_bad_physics_settings_are_refused(bad):
    with pytest.raises(ValueError, match="must be"):
        simulation.SimulationSettings(**bad)


def test_spot_sets_written_before_physics_load_as_kinematic(tmp_path):
    s = simulation.simulate_spots(phases.al(), 5, seed=1, show_progressbar=False)
    path = tmp_path / "old.npz"
    s.save(path)
    with np.load(path) as f:
        old = {k: f[k] for k in f.files if not k.startswith("physics")}
    np.savez(path, **old)
    loaded = simulation.SpotSet.load(path)
    assert np.all(loaded.physics == 0)
    assert np.all(np.isnan(loaded.physics_parameter))


def test_training_reports_figures_per_physics():
    settings = simulation.SimulationSettings(
        dynamical_fraction=0.4, precession_fraction=0.3, chunk_size=20
    )
    spots = simulation.simulate_spots(
        phases.al(), 200, settings, seed=4, show_progressbar=False, n_jobs=1
    )
    model = pxt.train_model(
        phases.al(),
        spots=spots,
        epochs=1,
        batch_size=32,
        validation_fraction=0.2,
        show_progressbar=False,
        cache_dir=None,
    )
    by_physics = model.training_info["validation_by_physics"]
    assert set(by_physics) <= set(PHYSICS) and len(by_physics) >= 2
    total = sum(f["n_patterns"] for f in by_physics.values())
    assert total == model.training_info["validation"]["n_patterns"]
    assert model.training_info["simulation"]["dynamical_fraction"] == 0.4


@pytest.mark.parametrize("kind", [{"thickness": 300.0}, {"precession_angle": 1.0}])
def test_dynamical_and_precession_scans_map_with_the_shipped_model(kind):
    s, truth = dynamical_grains(phases.cu(), (4, 4), n_grains=3, seed=9, **kind)
    assert s.data.shape == (4, 4, 128, 128) and truth.shape == (4, 4)
    # The direct beam sits at the stored centre.
    mean = np.asarray(s.data).mean((0, 1))
    assert np.unravel_index(mean.argmax(), mean.shape) in [
        (63, 63),
        (63, 64),
        (64, 63),
        (64, 64),
    ]
    xmap = s.get_orientation_map_transformer(
        pxt.pretrained("cu"), show_progressbar=False
    ).to_crystal_map()
    angle = pxt.metrics.compare_crystal_maps(xmap, truth).misorientation
    assert np.mean(np.nan_to_num(angle, nan=180) < 5) >= 0.5


def test_the_benchmark_has_the_dynamical_and_precession_tier():
    for name in ("cu-dyn-100", "cu-dyn-300", "cu-dyn-600", "cu_cu2o-dyn-300"):
        assert name in NEEDS_ABTEM and "Bloch-wave" in CASES[name].describe()
    assert "precession" in CASES["cu-ped"].describe()
    assert CASES["cu-dyn-300"].n_grains == 64
