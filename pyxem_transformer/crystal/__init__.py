"""Crystal phases: the built-in ones, CIFs with their true symmetry, phases
as plain data, and the reciprocal lattice a pattern can show."""

from pyxem_transformer.crystal import phases
from pyxem_transformer.crystal.cif import (
    SymmetryReport,
    SymmetryWarning,
    detect_space_group,
    phase_from_cif,
)
from pyxem_transformer.crystal.phase_io import (
    aligned_lattice,
    atom_positions,
    diffsims_phase,
    phase_from_dict,
    phase_to_dict,
)
from pyxem_transformer.crystal.reciprocal import (
    reciprocal_lattice,
    reciprocal_lattice_points,
    wavelength,
)

__all__ = [
    "SymmetryReport",
    "SymmetryWarning",
    "aligned_lattice",
    "atom_positions",
    "detect_space_group",
    "diffsims_phase",
    "phase_from_cif",
    "phase_from_dict",
    "phase_to_dict",
    "phases",
    "reciprocal_lattice",
    "reciprocal_lattice_points",
    "wavelength",
]
