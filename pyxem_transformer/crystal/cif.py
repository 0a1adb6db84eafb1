"""Phases from CIF files with their true symmetry.

CIF files written by common tools (diffpy's ``P_cif``, many structure
editors and databases' "P1" exports) list every atom of the cell and
declare space group P1. orix then builds a triclinic phase, and every
symmetry-aware method treats a cubic crystal as having no symmetry: a
template library grows 24-fold, a model learns the wrong fundamental zone,
and misorientations are computed in the wrong group. Here the space group
is detected from the atoms with spglib and the phase is rebuilt in its
standard setting when the file declares less symmetry than its atoms have.
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import spglib
from diffpy.structure import Atom, Lattice, Structure, loadStructure
from orix.crystal_map import Phase

from pyxem_transformer.crystal.phase_io import aligned_lattice

__all__ = [
    "SymmetryReport",
    "SymmetryWarning",
    "detect_space_group",
    "phase_from_cif",
]


class SymmetryWarning(UserWarning):
    """A phase declares less symmetry than its atoms have."""


@dataclass(frozen=True)
class SymmetryReport:
    """Space group of a structure as declared and as found from its atoms.

    Attributes
    ----------
    declared
        International number of the declared space group (1 if none).
    detected
        International number spglib finds from the atoms.
    symbol
        Hermann-Mauguin symbol of the detected group.
    point_group
        Point group symbol of the detected group.
    symprec
        Distance tolerance in Å used for the detection.
    """

    declared: int
    detected: int
    symbol: str
    point_group: str
    symprec: float

    @property
    def mismatch(self) -> bool:
        """True if the atoms have a different space group than declared."""
        return self.declared != self.detected


def _cell(structure: Structure) -> tuple[tuple, list[tuple[str, float]]]:
    """Return an spglib cell and the (element, occupancy) of each atom type."""
    species = [(_element(a.element), round(float(a.occupancy), 3)) for a in structure]
    kinds = sorted(set(species))
    numbers = [kinds.index(s) + 1 for s in species]
    xyz = np.asarray(structure.xyz, dtype=float) % 1.0
    return (np.asarray(structure.lattice.base, float), xyz, numbers), kinds


def _element(symbol: str) -> str:
    letters = "".join(ch for ch in str(symbol) if ch.isalpha())
    return letters.capitalize()


def _dataset(structure: Structure, symprec: float):
    if len(structure) == 0:
        raise ValueError(
            "The structure has no atoms; a CIF needs its atom sites "
            "(_atom_site_fract_x/y/z) to simulate diffraction."
        )
    cell, kinds = _cell(structure)
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:
        raise ValueError(
            f"spglib could not find the symmetry of the structure "
            f"({spglib.get_error_message()}); check the atom positions or "
            "pass a larger `symprec`."
        )
    return dataset, kinds


def detect_space_group(phase: Phase, symprec: float = 1e-3) -> SymmetryReport:
    """Find a phase's space group from its atoms and compare with its own.

    Parameters
    ----------
    phase
        An orix phase with a structure holding atoms.
    symprec
        Distance tolerance in Å for atoms to count as symmetry-equivalent.

    Returns
    -------
    report
        A :class:`SymmetryReport`.

    Examples
    --------
    >>> from pyxem_transformer import cif, phases
    >>> report = cif.detect_space_group(phases.cu())
    >>> report.detected, report.symbol, report.mismatch
    (225, 'Fm-3m', False)
    """
    dataset, _ = _dataset(phase.structure, symprec)
    declared = 1 if phase.space_group is None else int(phase.space_group.number)
    return SymmetryReport(
        declared=declared,
        detected=int(dataset.number),
        symbol=str(dataset.international),
        point_group=str(dataset.pointgroup),
        symprec=symprec,
    )


def phase_from_cif(
    path: str | Path,
    name: str | None = None,
    *,
    symprec: float = 1e-3,
    color: str = "tab:blue",
) -> Phase:
    """Read a CIF into an orix phase with the symmetry its atoms really have.

    The atoms (diffpy expands the declared asymmetric unit) are checked with
    spglib. If they have more symmetry than the file declares (typically
    "P1" exports listing every atom), a :class:`SymmetryWarning` says so and
    the phase is rebuilt from spglib's standardised conventional cell with
    the detected space group; its crystal frame is that standard setting.
    Otherwise the file's cell and atoms are kept. The lattice is placed with
    a along x and c* along z, the frame orix uses, so fractional
    coordinates stay exact for non-orthogonal (e.g. hexagonal) cells.

    Parameters
    ----------
    path
        The CIF file.
    name
        Phase name; default the file name without suffix.
    symprec
        Distance tolerance in Å for the symmetry detection.
    color
        Phase colour for maps.

    Returns
    -------
    phase
        An orix phase with structure, space group and point group.

    Raises
    ------
    ValueError
        If the file does not exist, cannot be read as a CIF, or has no atoms.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"No CIF file at {path}.")
    try:
        structure = loadStructure(str(path), fmt="cif")
        declared_phase = Phase.from_cif(str(path))
    except Exception as error:  # diffpy raises its own parser errors
        raise ValueError(
            f"Could not read {path} as a CIF ({type(error).__name__}: {error})."
        ) from error
    name = name or path.stem
    declared = declared_phase.space_group
    declared_number = 1 if declared is None else int(declared.number)
    dataset, kinds = _dataset(structure, symprec)
    detected = int(dataset.number)
    uiso = _mean_uiso(structure, kinds)
    if detected > declared_number:
        warnings.warn(
            f"{path.name} declares space group {_symbol(declared)} "
            f"({declared_number}), but its atoms have the symmetry of "
            f"{dataset.international} ({detected}, point group "
            f"{dataset.pointgroup}; spglib, tolerance {symprec} Å). Using "
            f"{dataset.international} in its standard setting, so symmetry-aware "
            "training, template libraries and misorientations use the full "
            "point group. Pass a smaller `symprec` if the lower symmetry is real.",
            SymmetryWarning,
            stacklevel=2,
        )
        cell = Lattice(base=np.asarray(dataset.std_lattice, float)).abcABG()
        sites = [
            (kinds[t - 1], xyz)
            for t, xyz in zip(dataset.std_types, dataset.std_positions, strict=True)
        ]
        space_group = detected
    else:
        if detected < declared_number:
            warnings.warn(
                f"{path.name} declares space group {_symbol(declared)} "
                f"({declared_number}), but its atoms only have the symmetry of "
                f"{dataset.international} ({detected}) within {symprec} Å; "
                "keeping the declared group. Check the atom positions.",
                SymmetryWarning,
                stacklevel=2,
            )
        cell = structure.lattice.abcABG()
        sites = [
            ((_element(a.element), round(float(a.occupancy), 3)), a.xyz)
            for a in structure
        ]
        space_group = declared_number
    structure = _structure(sites, aligned_lattice(*cell), uiso, name)
    return Phase(name=name, space_group=space_group, structure=structure, color=color)


def _mean_uiso(structure, kinds) -> dict:
    """Mean isotropic displacement of each (element, occupancy) kind."""
    return {
        kind: float(
            np.mean(
                [
                    a.Uisoequiv
                    for a in structure
                    if (_element(a.element), round(float(a.occupancy), 3)) == kind
                ]
            )
        )
        for kind in kinds
    }


def _structure(sites, lattice, uiso: dict, name: str) -> Structure:
    """A diffpy structure of ``(kind, xyz)`` sites on ``lattice``."""
    atoms = []
    for (element, occupancy), xyz in sites:
        atom = Atom(
            element, np.asarray(xyz, float) % 1.0, occupancy=occupancy, lattice=lattice
        )
        atom.Uisoequiv = uiso[(element, occupancy)]
        atoms.append(atom)
    return Structure(atoms=atoms, lattice=lattice, title=name)


def _symbol(space_group) -> str:
    return "none" if space_group is None else str(space_group.short_name)
