"""Lossless conversion of orix phases to plain JSON-ready dictionaries.

Results and checkpoints store their phases this way, so nothing but plain
data (no pickled objects) is ever read back from a file.
"""

from typing import Any

import numpy as np
from diffpy.structure import Atom, Lattice, Structure
from orix.crystal_map import Phase

__all__ = ["aligned_lattice", "phase_from_dict", "phase_to_dict"]


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
            "expected the output of pyxem_transformer.phase_io.phase_to_dict."
        ) from error
