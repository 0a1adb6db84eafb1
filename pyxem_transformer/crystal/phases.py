"""Crystal phases used by the tests, demos and shipped models.

Every phase is built offline from tabulated lattice parameters and the
full list of atoms in the conventional cell (diffsims computes structure
factors from the listed atoms; it does not expand the space group).

Examples
--------
>>> from pyxem_transformer import phases
>>> cu = phases.cu()
>>> cu.point_group.name
'm-3m'
>>> len(cu.structure)
4
"""

from collections.abc import Callable, Sequence

from diffpy.structure import Atom, Structure
from orix.crystal_map import Phase

from pyxem_transformer.crystal.phase_io import aligned_lattice

__all__ = [
    "al",
    "by_name",
    "cu",
    "cu2o",
    "fe_bcc",
    "fe_fcc",
    "names",
    "si",
    "ti",
]

_FCC = [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
_BCC = [(0, 0, 0), (0.5, 0.5, 0.5)]


def _make_phase(
    name: str,
    space_group: int,
    cell: tuple[float, float, float, float, float, float],
    sites: Sequence[tuple[str, tuple[float, float, float]]],
    color: str,
) -> Phase:
    lattice = aligned_lattice(*cell)
    atoms = [Atom(element, xyz, lattice=lattice) for element, xyz in sites]
    structure = Structure(atoms=atoms, lattice=lattice, title=name)
    return Phase(name=name, space_group=space_group, structure=structure, color=color)


def _cubic(a: float) -> tuple[float, float, float, float, float, float]:
    return (a, a, a, 90.0, 90.0, 90.0)


def al() -> Phase:
    """Return face-centred cubic aluminium, Fm-3m (225), a = 4.0495 Å.

    Returns
    -------
    phase
        An orix phase with structure and space group.
    """
    return _make_phase(
        "Al", 225, _cubic(4.0495), [("Al", xyz) for xyz in _FCC], "tab:blue"
    )


def cu() -> Phase:
    """Return face-centred cubic copper, Fm-3m (225), a = 3.615 Å.

    Returns
    -------
    phase
        An orix phase with structure and space group.
    """
    return _make_phase(
        "Cu", 225, _cubic(3.615), [("Cu", xyz) for xyz in _FCC], "tab:orange"
    )


def cu2o() -> Phase:
    """Return cuprite Cu2O, Pn-3m (224, origin choice 2), a = 4.2696 Å.

    Returns
    -------
    phase
        An orix phase with structure and space group.
    """
    sites = [("O", (0, 0, 0)), ("O", (0.5, 0.5, 0.5))] + [
        ("Cu", xyz)
        for xyz in [
            (0.25, 0.25, 0.25),
            (0.75, 0.75, 0.25),
            (0.75, 0.25, 0.75),
            (0.25, 0.75, 0.75),
        ]
    ]
    return _make_phase("Cu2O", 224, _cubic(4.2696), sites, "tab:red")


def si() -> Phase:
    """Return diamond-cubic silicon, Fd-3m (227), a = 5.431 Å.

    Returns
    -------
    phase
        An orix phase with structure and space group.
    """
    sites = [("Si", xyz) for xyz in _FCC] + [
        ("Si", (x + 0.25, y + 0.25, z + 0.25)) for x, y, z in _FCC
    ]
    return _make_phase("Si", 227, _cubic(5.431), sites, "tab:gray")


def fe_bcc() -> Phase:
    """Return body-centred cubic iron (ferrite), Im-3m (229), a = 2.8665 Å.

    Returns
    -------
    phase
        An orix phase with structure and space group.
    """
    return _make_phase(
        "Fe_bcc", 229, _cubic(2.8665), [("Fe", xyz) for xyz in _BCC], "tab:green"
    )


def fe_fcc() -> Phase:
    """Return face-centred cubic iron (austenite), Fm-3m (225), a = 3.59 Å.

    Returns
    -------
    phase
        An orix phase with structure and space group.
    """
    return _make_phase(
        "Fe_fcc", 225, _cubic(3.59), [("Fe", xyz) for xyz in _FCC], "tab:purple"
    )


def ti() -> Phase:
    """Return hexagonal close-packed alpha titanium, P6_3/mmc (194).

    a = 2.9508 Å, c = 4.6855 Å, atoms at (1/3, 2/3, 1/4) and (2/3, 1/3, 3/4).

    Returns
    -------
    phase
        An orix phase with structure and space group.
    """
    cell = (2.9508, 2.9508, 4.6855, 90.0, 90.0, 120.0)
    sites = [("Ti", (1 / 3, 2 / 3, 0.25)), ("Ti", (2 / 3, 1 / 3, 0.75))]
    return _make_phase("Ti", 194, cell, sites, "tab:cyan")


_REGISTRY: dict[str, Callable[[], Phase]] = {
    "al": al,
    "cu": cu,
    "cu2o": cu2o,
    "si": si,
    "fe_bcc": fe_bcc,
    "fe_fcc": fe_fcc,
    "ti": ti,
}


def names() -> list[str]:
    """Return the names accepted by :func:`by_name`.

    Returns
    -------
    names
        Lower-case phase names.
    """
    return list(_REGISTRY)


def by_name(name: str) -> Phase:
    """Return a built-in phase by its case-insensitive name.

    Parameters
    ----------
    name
        One of :func:`names`, e.g. ``"cu"`` or ``"Cu2O"``.

    Returns
    -------
    phase
        A new :class:`orix.crystal_map.Phase`.

    Raises
    ------
    KeyError
        If the name is unknown; the message lists the known names.
    """
    key = name.lower()
    if key not in _REGISTRY:
        raise KeyError(
            f"Unknown built-in phase {name!r}. Known phases: {', '.join(names())}. "
            "For other crystals build an orix Phase from a CIF file."
        )
    return _REGISTRY[key]()
