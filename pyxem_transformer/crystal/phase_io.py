"""Conversions of orix phases: to plain JSON-ready dictionaries and for diffsims.

Results and checkpoints store their phases as dictionaries, so nothing but
plain data (no pickled objects) is ever read back from a file.
:func:`diffsims_phase` is the copy of a phase every diffsims simulation of
this package is given (training data, benchmark samples, template
libraries), so that its kinematic intensities are right in orix's frame.
"""

from typing import Any

import numpy as np
from diffpy.structure import Atom, Lattice, Structure
from diffsims.structure_factor.atomic_scattering_parameters import (
    get_element_id_from_string,
)
from orix.crystal_map import Phase

__all__ = [
    "aligned_lattice",
    "atom_positions",
    "diffsims_phase",
    "phase_from_dict",
    "phase_to_dict",
]


def aligned_lattice(
    a: float, b: float, c: float, alpha: float, beta: float, gamma: float
) -> Lattice:
    """Return a diffpy lattice with a along x and c* along z, as orix uses.

    orix's ``Phase`` re-expresses every structure in this frame but keeps the
    atoms' Cartesian positions, so atoms given in fractional coordinates of
    diffpy's default frame (b along y) end up in the wrong place for
    non-orthogonal cells such as hexagonal ones. Placing them in this frame
    from the start keeps their fractional coordinates exact.

    Parameters
    ----------
    a, b, c
        Cell lengths in Å.
    alpha, beta, gamma
        Cell angles in degrees.

    Returns
    -------
    lattice
        The lattice with its base in orix's alignment.
    """
    al, be, ga = np.deg2rad([alpha, beta, gamma])
    cx = c * np.cos(be)
    cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    cz = np.sqrt(c**2 - cx**2 - cy**2)
    base = np.array(
        [[a, 0.0, 0.0], [b * np.cos(ga), b * np.sin(ga), 0.0], [cx, cy, cz]]
    )
    return Lattice(base=base)


def _atomic_number(element: str) -> int:
    symbol = "".join(ch for ch in str(element) if ch.isalpha()).capitalize()
    return int(get_element_id_from_string(symbol))


def _structure_strength(structure, hkl: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """``|F(hkl)|**2`` with atoms at ``xyz``, weighted by atomic number."""
    weights = np.array([_atomic_number(a.element) * a.occupancy for a in structure])
    return np.abs(np.exp(2j * np.pi * hkl @ xyz.T) @ weights) ** 2


def _frame_mapping(lattice) -> np.ndarray:
    """diffsims's map of fractional coordinates, ``inv(stdbase @ recbase)``."""
    return np.linalg.inv(lattice.stdbase @ lattice.recbase)


def _asymmetry(phase: Phase, xyz: np.ndarray) -> float:
    """How far |F|² with atoms at ``xyz`` is from the point group's symmetry.

    Summed change of ``|F(hkl)|**2`` (atoms weighted by atomic number) under
    the point group's proper rotations that map the lattice onto itself,
    relative to the summed ``|F|**2``, over ``|h|, |k|, |l| <= 3``.
    """
    structure = phase.structure
    base = structure.lattice.reciprocal().base
    hkl = np.array(np.meshgrid(*[np.arange(-3, 4)] * 3)).reshape(3, -1).T.astype(float)
    reference = _structure_strength(structure, hkl, xyz)
    change = 0.0
    for op in phase.point_group.to_matrix():
        if np.linalg.det(op) < 0:
            continue
        moved = (hkl @ base) @ np.asarray(op).T @ np.linalg.inv(base)
        if not np.allclose(moved, np.round(moved), atol=1e-6):
            continue  # not a symmetry of the lattice in this frame
        moved_strength = _structure_strength(structure, np.round(moved), xyz)
        change += np.abs(moved_strength - reference).sum()
    return float(change / max(reference.sum(), 1e-30))


def atom_positions(phase: Phase) -> np.ndarray:
    """Return the true fractional coordinates of the phase's atoms.

    orix puts every structure into its own Cartesian frame (a along x, c*
    along z) and keeps the atoms' Cartesian positions, so a phase built from
    a structure in diffpy's default frame (``Phase(structure=...)``,
    ``Phase.from_cif``) holds fractional coordinates moved by the change of
    frame, which diffsims maps back (by ``inv(stdbase @ recbase)``) before
    computing structure factors. Phases built by this package
    (:func:`aligned_lattice`) hold the true coordinates, which that map
    would move. For a non-orthogonal cell (hexagonal, trigonal, monoclinic)
    the phase alone does not say which it holds: of the two readings, the
    one whose kinematic structure factors have the point group's symmetry
    is returned (the stored one where both do, as for atoms only at the
    origin; for other cells the map is the identity).

    Parameters
    ----------
    phase
        An orix phase with a structure.

    Returns
    -------
    xyz
        ``(n_atoms, 3)`` fractional coordinates in the phase's lattice.

    Examples
    --------
    >>> import numpy as np
    >>> from diffpy.structure import Atom, Lattice, Structure
    >>> from orix.crystal_map import Phase
    >>> from pyxem_transformer import phase_io, phases
    >>> lattice = Lattice(2.9508, 2.9508, 4.6855, 90, 90, 120)  # b along y
    >>> atoms = [Atom("Ti", (1 / 3, 2 / 3, 0.25)), Atom("Ti", (2 / 3, 1 / 3, 0.75))]
    >>> moved = Phase(structure=Structure(atoms, lattice), space_group=194)
    >>> np.round(moved.structure.xyz[0], 4).tolist()  # orix moved the atoms
    [0.5774, 0.5774, 0.25]
    >>> np.round(phase_io.atom_positions(moved), 4).tolist()
    [[0.3333, 0.6667, 0.25], [0.6667, 0.3333, 0.75]]
    >>> np.round(phase_io.atom_positions(phases.ti()), 4).tolist()
    [[0.3333, 0.6667, 0.25], [0.6667, 0.3333, 0.75]]
    """
    xyz = np.asarray(phase.structure.xyz, dtype=float)
    mapping = _frame_mapping(phase.structure.lattice)
    if np.allclose(mapping, np.eye(3), atol=1e-12) or xyz.size == 0:
        return xyz.copy()
    mapped = xyz @ mapping
    if _asymmetry(phase, mapped) < _asymmetry(phase, xyz) - 1e-6:
        return mapped
    return xyz.copy()


def diffsims_phase(phase: Phase) -> Phase:
    """Return a copy of ``phase`` for which diffsims computes true intensities.

    diffsims (0.7) maps the atoms' fractional coordinates by
    ``inv(stdbase @ recbase)`` before computing structure factors
    (:func:`atom_positions`, diffsims#203). For the phases of this package
    that map moves the atoms of non-orthogonal cells: hcp Ti at two
    orientations that orix counts as one (a 120° turn about c apart) would
    get spots at the same positions with intensities up to 200-fold
    different, and kinematically forbidden reflections would get intensity.
    The copy holds the atoms where that map takes them to their true
    positions. The lattice, and with it every spot position and rotation,
    is unchanged; where the map is the identity (cubic, tetragonal,
    orthorhombic cells) the copy equals the phase.

    Use it only as diffsims's input: its atoms' coordinates are not the
    crystal's.

    Parameters
    ----------
    phase
        An orix phase with a structure.

    Returns
    -------
    phase
        A copy for diffsims.

    Examples
    --------
    >>> import numpy as np
    >>> from pyxem_transformer import phase_io, phases
    >>> ti = phase_io.diffsims_phase(phases.ti())
    >>> lattice = ti.structure.lattice
    >>> mapped = ti.structure.xyz @ np.linalg.inv(lattice.stdbase @ lattice.recbase)
    >>> np.round(mapped, 4).tolist()  # what diffsims will compute with
    [[0.3333, 0.6667, 0.25], [0.6667, 0.3333, 0.75]]
    """
    copy = phase.deepcopy()
    mapping = _frame_mapping(copy.structure.lattice)
    if not np.allclose(mapping, np.eye(3), atol=1e-12):
        copy.structure.xyz = atom_positions(phase) @ np.linalg.inv(mapping)
    return copy


def phase_to_dict(phase: Phase) -> dict[str, Any]:
    """Return the name, symmetry, lattice, atoms and colour of a phase.

    Parameters
    ----------
    phase
        An orix phase with a structure.

    Returns
    -------
    description
        A dictionary of strings, numbers and lists only.

    Examples
    --------
    >>> from pyxem_transformer import phase_io, phases
    >>> d = phase_io.phase_to_dict(phases.cu())
    >>> d["space_group"], d["lattice"][0]
    (225, 3.615)
    """
    structure = phase.structure
    lattice = structure.lattice
    return {
        "name": phase.name,
        "space_group": None if phase.space_group is None else phase.space_group.number,
        "point_group": None if phase.point_group is None else phase.point_group.name,
        "lattice": [
            float(v)
            for v in (lattice.a, lattice.b, lattice.c)
            + (lattice.alpha, lattice.beta, lattice.gamma)
        ],
        "atoms": [
            {
                "element": str(atom.element),
                "xyz": [float(v) for v in atom.xyz],
                "occupancy": float(atom.occupancy),
                "Uisoequiv": float(atom.Uisoequiv),
            }
            for atom in structure
        ],
        "color": phase.color,
    }


def phase_from_dict(description: dict[str, Any]) -> Phase:
    """Rebuild a phase from :func:`phase_to_dict` output.

    Parameters
    ----------
    description
        Dictionary with keys ``name``, ``space_group`` or ``point_group``,
        ``lattice`` (a, b, c, alpha, beta, gamma), ``atoms`` and ``color``.

    Returns
    -------
    phase
        An equivalent orix phase.

    Raises
    ------
    ValueError
        If a key is missing or malformed.
    """
    try:
        lattice = aligned_lattice(*[float(v) for v in description["lattice"]])
        atoms = []
        for atom in description["atoms"]:
            a = Atom(
                atom["element"],
                [float(v) for v in atom["xyz"]],
                occupancy=float(atom.get("occupancy", 1.0)),
                lattice=lattice,
            )
            a.Uisoequiv = float(atom.get("Uisoequiv", 0.0))
            atoms.append(a)
        structure = Structure(atoms=atoms, lattice=lattice, title=description["name"])
        kwargs = {}
        if description.get("space_group") is not None:
            kwargs["space_group"] = int(description["space_group"])
        elif description.get("point_group") is not None:
            kwargs["point_group"] = description["point_group"]
        return Phase(
            name=str(description["name"]),
            structure=structure,
            color=description.get("color") or "tab:blue",
            **kwargs,
        )
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ValueError(
            f"Malformed phase description ({type(error).__name__}: {error}); "
            "expected the output of pyxem_transformer.crystal.phase_io.phase_to_dict."
        ) from error
