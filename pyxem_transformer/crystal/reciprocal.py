"""The reciprocal lattice of a phase and the electron wavelength.

The points a pattern can show: allowed reciprocal lattice vectors with
their kinematical strengths. The fit, the calibration check and the
predicted-spot markers all read them from here.
"""

import itertools

import numpy as np
from orix.crystal_map import Phase

from pyxem_transformer.crystal.phase_io import _structure_strength, atom_positions

__all__ = ["reciprocal_lattice", "reciprocal_lattice_points", "wavelength"]


def wavelength(accelerating_voltage: float) -> float:
    """Relativistic electron wavelength in Å for a voltage in kV.

    Parameters
    ----------
    accelerating_voltage
        In kV.

    Returns
    -------
    wavelength
        In Å.
    """
    v = accelerating_voltage * 1e3
    h, m0, e, c = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 299792458.0
    return float(h / np.sqrt(2 * m0 * e * v * (1 + e * v / (2 * m0 * c**2))) * 1e10)


def reciprocal_lattice_points(phase: Phase, max_radius: float) -> np.ndarray:
    """Return allowed reciprocal lattice vectors ``(P, 3)`` with ``|g| <= max_radius``.

    Parameters
    ----------
    phase, max_radius
        As for :func:`reciprocal_lattice`.

    Returns
    -------
    points
        The points of :func:`reciprocal_lattice`, without their strengths.
    """
    return reciprocal_lattice(phase, max_radius)[0]


def reciprocal_lattice(
    phase: Phase, max_radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return allowed reciprocal lattice vectors with ``|g| <= max_radius``
    and their kinematical strengths.

    Reflections whose kinematical structure factor (atoms weighted by their
    atomic number, at :func:`~pyxem_transformer.crystal.phase_io.atom_positions`)
    vanishes are left out, so extinct spots attract no peak.

    Parameters
    ----------
    phase
        An orix phase with atoms.
    max_radius
        Largest ``|g|`` in 1/Å.

    Returns
    -------
    points
        Float32 array of shape ``(P, 3)`` in the crystal's Cartesian frame.
    strength
        Float32 array ``(P,)``: ``|F|**2`` with atoms weighted by their atomic
        number, relative to the strongest point's (no atomic form factor:
        a crude guide to which reflections should be seen, no intensity).
    """
    structure = phase.structure
    # Cached: the calibration check, the range check and the fit ask for the
    # same phases' points on every call (3-9 ms each for Cu, Ti and Cu2O on
    # this project's CPU). The key holds the Cartesian base itself, so no
    # two frames can share points.
    key = (
        structure.lattice.base.tobytes(),
        tuple(
            (str(a.element), np.asarray(a.xyz, float).tobytes(), float(a.occupancy))
            for a in structure
        ),
        phase.point_group.name,
        float(max_radius),
    )
    points = _LATTICE_POINTS.get(key)
    if points is None:
        if len(_LATTICE_POINTS) >= 64:
            _LATTICE_POINTS.clear()
        points = _allowed_points(structure, atom_positions(phase), float(max_radius))
        _LATTICE_POINTS[key] = points
    return points[0].copy(), points[1].copy()


#: Points and strengths of :func:`reciprocal_lattice` by lattice, atoms and
#: radius.
_LATTICE_POINTS: dict = {}


def _allowed_points(
    structure, xyz: np.ndarray, max_radius: float
) -> tuple[np.ndarray, np.ndarray]:
    lattice = structure.lattice
    base = lattice.reciprocal().base  # rows a*, b*, c* in the Cartesian frame
    n = [int(np.ceil(max_radius * lattice.abcABG()[i])) + 1 for i in range(3)]
    hkl = np.array(list(itertools.product(*[range(-k, k + 1) for k in n])), dtype=float)
    g = hkl @ base
    radius = np.linalg.norm(g, axis=1)
    keep = (radius > 0) & (radius <= max_radius)
    hkl, g = hkl[keep], g[keep]
    strength = _structure_strength(structure, hkl, xyz)
    allowed = strength > 1e-6 * strength.max()
    return (
        g[allowed].astype(np.float32),
        (strength[allowed] / strength.max()).astype(np.float32),
    )
