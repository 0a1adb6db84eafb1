import warnings

import numpy as np
import pytest
from diffsims.generators.simulation_generator import SimulationGenerator
from orix.quaternion import Rotation

from pyxem_transformer import phases
from pyxem_transformer.crystal import cif


def _p1_copy(phase, folder):
    """Write a phase as diffpy does: every atom listed, space group P1."""
    path = folder / f"{phase.name.lower()}_p1.cif"
    phase.structure.write(str(path), "cif")
    assert "'P1'" in path.read_text()
    return path


def _spots(phase, rotation):
    sim = SimulationGenerator(200.0).calculate_diffraction2d(
        phase, rotation=rotation, reciprocal_radius=1.4, max_excitation_error=0.05
    )
    v = sim.coordinates
    table = np.column_stack([v.data[:, :2], v.intensity / v.intensity.max()])
    return table[np.lexsort(np.round(table[:, :2], 4).T)]


@pytest.mark.parametrize(
    "phase, number, point_group",
    [(phases.cu(), 225, "m-3m"), (phases.ti(), 194, "6/mmm")],
)
def test_p1_cif_gets_its_true_symmetry(tmp_path, phase, number, point_group):
    path = _p1_copy(phase, tmp_path)
    with pytest.warns(cif.SymmetryWarning, match=r"declares space group P1 \(1\)"):
        found = cif.phase_from_cif(path)
    assert found.space_group.number == number
    assert found.point_group.name == point_group
    assert found.name == path.stem
    # Same physics: the same rotation gives the same spots as the original.
    rotation = Rotation.from_euler(np.deg2rad([[23, 41, 67]]))
    np.testing.assert_allclose(
        _spots(found, rotation), _spots(phase, rotation), atol=1e-4
    )


CU_CIF = """data_Cu
_symmetry_space_group_name_H-M  'F m -3 m'
_symmetry_Int_Tables_number     225
_cell_length_a                  3.615
_cell_length_b                  3.615
_cell_length_c                  3.615
_cell_angle_alpha               90
_cell_angle_beta                90
_cell_angle_gamma               90
loop_
  _atom_site_label
  _atom_site_type_symbol
  _atom_site_fract_x
  _atom_site_fract_y
  _atom_site_fract_z
  _atom_site_occupancy
  Cu1   Cu     0.0    0.0    0.0    1.0
"""


def test_correct_cif_is_kept_without_warning(tmp_path):
    path = tmp_path / "cu.cif"
    path.write_text(CU_CIF)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cif.SymmetryWarning)
        phase = cif.phase_from_cif(path, name="copper")
    assert phase.name == "copper"
    assert phase.space_group.number == 225
    assert len(phase.structure) == 4  # diffpy expands the asymmetric unit


def test_detect_space_group_reports_a_triclinic_phase():
    from orix.crystal_map import Phase

    cu = phases.cu()
    triclinic = Phase(name="Cu", space_group=1, structure=cu.structure)
    report = cif.detect_space_group(triclinic)
    assert report.mismatch and (report.declared, report.detected) == (1, 225)
    assert not cif.detect_space_group(cu).mismatch


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="No CIF file"):
        cif.phase_from_cif(tmp_path / "missing.cif")
    garbage = tmp_path / "garbage.cif"
    garbage.write_text("this is not a crystal\n")
    with pytest.raises(ValueError, match="garbage.cif"):
        cif.phase_from_cif(garbage)
