import numpy as np
import pytest

from pyxem_transformer import phase_io, phases

EXPECTED = {
    "al": ("m-3m", 4),
    "cu": ("m-3m", 4),
    "cu2o": ("m-3m", 6),
    "si": ("m-3m", 8),
    "fe_bcc": ("m-3m", 2),
    "fe_fcc": ("m-3m", 4),
    "ti": ("6/mmm", 2),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_phases(name):
    phase = phases.by_name(name)
    point_group, n_atoms = EXPECTED[name]
    assert phase.point_group.name == point_group
    assert len(phase.structure) == n_atoms


def test_names_and_unknown_phase():
    assert set(phases.names()) == set(EXPECTED)
    assert phases.by_name("CU2O").name == "Cu2O"
    with pytest.raises(KeyError, match="Known phases"):
        phases.by_name("unobtainium")


@pytest.mark.parametrize("name", ["cu2o", "ti"])
def test_phase_dict_round_trip(name):
    phase = phases.by_name(name)
    back = phase_io.phase_from_dict(phase_io.phase_to_dict(phase))
    assert back.name == phase.name
    assert back.space_group.number == phase.space_group.number
    assert back.point_group.name == phase.point_group.name
    np.testing.assert_allclose(back.structure.xyz, phase.structure.xyz)
    assert list(back.structure.element) == list(phase.structure.element)
    assert back.structure.lattice.abcABG() == pytest.approx(
        phase.structure.lattice.abcABG()
    )


def test_malformed_phase_dict():
    with pytest.raises(ValueError, match="Malformed phase"):
        phase_io.phase_from_dict({"name": "x"})


def test_hexagonal_atoms_keep_their_fractional_coordinates():
    # orix re-bases every structure to a || x, c* || z keeping Cartesian
    # positions; built in that frame, the hcp sites stay at 1/3, 2/3.
    ti = phases.ti()
    np.testing.assert_allclose(
        ti.structure.xyz, [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]], atol=1e-12
    )
    base = ti.structure.lattice.base
    np.testing.assert_allclose(base[0], [2.9508, 0, 0], atol=1e-12)


def test_hcp_built_by_orix_from_diffpy_frame_gives_the_same_points_and_intensities():
    # The common way to build a phase, Phase(structure=...) from a structure
    # in diffpy's default frame, leaves orix's moved atoms (0.577, 0.577,
    # 1/4) in the structure; phases.ti() holds the true (1/3, 2/3, 1/4).
    # Both must give the same lattice points and diffsims intensities.
    from diffpy.structure import Atom, Lattice, Structure
    from diffsims.generators.simulation_generator import SimulationGenerator
    from orix.crystal_map import Phase
    from orix.quaternion import Rotation

    from pyxem_transformer.crystal.reciprocal import reciprocal_lattice_points

    lattice = Lattice(2.9508, 2.9508, 4.6855, 90, 90, 120)
    atoms = [Atom("Ti", (1 / 3, 2 / 3, 0.25)), Atom("Ti", (2 / 3, 1 / 3, 0.75))]
    moved = Phase(name="Ti", structure=Structure(atoms, lattice), space_group=194)
    aligned = phases.ti()
    assert not np.allclose(moved.structure.xyz, aligned.structure.xyz)
    np.testing.assert_allclose(
        phase_io.atom_positions(moved), phase_io.atom_positions(aligned), atol=1e-9
    )
    a = reciprocal_lattice_points(aligned, 2.0)
    b = reciprocal_lattice_points(moved, 2.0)
    assert a.shape == b.shape
    np.testing.assert_allclose(np.sort(a, axis=0), np.sort(b, axis=0), atol=1e-6)
    rotation = Rotation.from_axes_angles([1, 2, 0.5], np.deg2rad(35))
    intensities = [
        SimulationGenerator(200)
        .calculate_diffraction2d(
            phase_io.diffsims_phase(p),
            rotation=rotation,
            reciprocal_radius=1.5,
            max_excitation_error=0.1,
            with_direct_beam=False,
        )
        .coordinates.intensity
        for p in (aligned, moved)
    ]
    np.testing.assert_allclose(intensities[0], intensities[1], rtol=1e-9)
