"""Dynamical (Bloch-wave) spot intensities, computed by abTEM.

Measured nanobeam patterns are dynamical: at 100-600 Å only reflections
close to the Ewald sphere are bright, the direct beam keeps much of the
intensity, and intensities no longer follow ``|F|**2``. abTEM's
``abtem.bloch`` solves the Bloch-wave problem for a crystal at an
orientation; this module only converts the package's phases and rotations to
abTEM's and its beams to spot lists in the detector frame of
:func:`~pyxem_transformer.simulation.frame.detector_frame`. No solver is
written here.

abTEM is an optional dependency: ``pip install "pyxem-transformer[dynamical]"``
(docs/installation.md says why the extra pins abTEM 1.0.9 and pandas < 3).

Geometry (pinned in ``tests/test_dynamical.py`` against diffsims): abTEM's
beam runs along +z where diffsims' runs along -z, so the crystal of rotation
matrix ``M`` (orix) is given to abTEM as ``F @ M.T`` with ``F = diag(1, -1,
-1)``, a half turn about x, and each beam ``g'`` is seen at ``v = F g'`` in
diffsims' frame.
"""

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
from orix.crystal_map import Phase
from orix.quaternion import Rotation
from tqdm.auto import tqdm

from pyxem_transformer.crystal.phase_io import (
    atom_positions,
    phase_from_dict,
    phase_to_dict,
)
from pyxem_transformer.simulation.frame import detector_frame

__all__ = ["BlochSpots", "bloch_spots", "phase_atoms"]

#: Beams within this excitation error (1/Å) enter the Bloch-wave matrix. On
#: Cu at 200 kV, beams out to the detector radius plus 1 1/Å and 0.1 1/Å
#: from the sphere gave spot intensities within 1% (L1, 100-600 Å) of those
#: of 0.4 1/Å and 2.5 1/Å, at 3.5 ms per orientation against 23 ms.
BEAM_EXCITATION_ERROR = 0.1
#: Beams reach this far (1/Å) beyond the largest simulated ``|g|``. 0.5
#: against 1.0 changed spot intensities by 1.4% (Ti) and 4.3% (Cu2O, L1 at
#: 300 Å) and cut the cost from 12 to 9 and from 136 to 40 ms per
#: orientation (this project's CPU): far below the training augmentation's
#: intensity noise.
BEAM_MARGIN = 0.5
#: Half turn about x: abTEM's frame from diffsims' (beam along +z there).
_FLIP = np.diag([1.0, -1.0, -1.0])
#: Orientations per task of a worker process.
_TASK = 100


def _abtem():
    try:
        import abtem.bloch
    except ImportError as error:
        raise ImportError(
            "Dynamical (Bloch-wave) simulation needs abTEM: install it with "
            'pip install "pyxem-transformer[dynamical]".'
        ) from error
    return abtem.bloch


@dataclass
class BlochSpots:
    """Dynamical spot lists of several patterns.

    Attributes
    ----------
    spots
        Per pattern, an ``(m, 3)`` array ``(kx, ky, intensity)`` in 1/Å of the
        detector frame, without the direct beam; intensities are fractions
        of the incident beam.
    direct
        ``(n,)`` fraction of the incident beam left in the direct beam.
    """

    spots: list[np.ndarray]
    direct: np.ndarray


def phase_atoms(phase: Phase):
    """Return the unit cell of a phase as ASE ``Atoms`` in the phase's frame.

    Parameters
    ----------
    phase
        An orix phase with a structure.

    Returns
    -------
    atoms
        ``ase.Atoms`` whose cell rows are the phase's Cartesian lattice
        vectors, so reciprocal vectors agree with
        :func:`~pyxem_transformer.crystal.reciprocal.reciprocal_lattice`.
    """
    from ase import Atoms

    structure = phase.structure
    if len(structure) == 0:
        raise ValueError(f"Phase {phase.name!r} has no atoms to simulate.")
    symbols = [_element(str(a.element)) for a in structure]
    return Atoms(
        symbols,
        scaled_positions=atom_positions(phase),
        cell=np.asarray(structure.lattice.base),
        pbc=True,
    )


def _element(label: str) -> str:
    """'Cu', 'cu', 'Cu2+' or 'Cu1' -> 'Cu'."""
    letters = "".join(c for c in label if c.isalpha())[:2]
    return letters[:1].upper() + letters[1:].lower()


#: abTEM structure factors per (phase, thermal sigma, reach), per process.
_FACTORS: dict = {}


def _structure_factor(phase: Phase, thermal_sigma: float, reach: float):
    key = (repr(phase_to_dict(phase)), round(float(thermal_sigma), 4), reach)
    factor = _FACTORS.get(key)
    if factor is None:
        if len(_FACTORS) > 16:
            _FACTORS.clear()
        bloch = _abtem()
        atoms = phase_atoms(phase)
        occupancy = [float(a.occupancy) for a in phase.structure]
        # abTEM sizes its hkl grid by reach * |a_i|; a non-orthogonal cell
        # needs |a_i| |a*_i| times more (2/sqrt(3) for hexagonal) to hold
        # every difference of two beams.
        lattice = phase.structure.lattice
        widen = np.max(
            np.linalg.norm(lattice.base, axis=1)
            * np.linalg.norm(lattice.reciprocal().base, axis=1)
        )
        factor = bloch.StructureFactor(
            atoms,
            g_max=2 * reach * float(widen) * 1.01,
            thermal_sigma=float(thermal_sigma),
            occupancy=occupancy,
        ).build(lazy=False)
        _FACTORS[key] = factor
    return factor


def _one_pattern(
    factor, matrix, thickness, voltage, radius, minimum, excitation, margin
):
    """Spots and direct-beam fraction of one orientation and thickness."""
    bloch = _abtem()
    waves = bloch.BlochWaves(
        factor,
        energy=voltage * 1e3,
        sg_max=excitation,
        g_max=radius + margin,
        orientation_matrix=_FLIP @ matrix.T,
    )
    pattern = waves.calculate_diffraction_patterns(float(thickness), lazy=False)
    intensity = np.asarray(pattern.array, float)
    v = np.asarray(pattern.positions, float) @ _FLIP  # rows: F @ g'
    direct = np.all(np.asarray(pattern.miller_indices) == 0, axis=1)
    keep = ~direct & (np.hypot(v[:, 0], v[:, 1]) <= radius)
    if keep.any():
        keep &= intensity > minimum * intensity[keep].max()
    kx, ky = detector_frame(v[keep, 0], v[keep, 1])
    spots = np.stack([kx, ky, intensity[keep]], axis=1)
    return spots, float(intensity[direct].sum())


def _chunk(args) -> tuple[list[np.ndarray], list[float]]:
    phase_dict, quaternions, thickness, sigma, options = args
    phase = phase_from_dict(phase_dict)
    factor = _structure_factor(phase, sigma, options["radius"] + options["margin"])
    matrices = Rotation(quaternions).to_matrix()
    spots, direct = [], []
    for matrix, t in zip(matrices, thickness, strict=True):
        s, d = _one_pattern(factor, matrix, t, **options)
        spots.append(s)
        direct.append(d)
    return spots, direct


def bloch_spots(
    phase: Phase,
    rotations: Rotation | np.ndarray,
    thickness: float | Sequence[float] | np.ndarray,
    *,
    thermal_sigma: float | np.ndarray = 0.08,
    accelerating_voltage: float = 200.0,
    reciprocal_radius: float = 1.5,
    minimum_intensity: float = 1e-4,
    beam_excitation_error: float = BEAM_EXCITATION_ERROR,
    beam_margin: float = BEAM_MARGIN,
    n_jobs: int = 1,
    show_progressbar: bool = False,
) -> BlochSpots:
    """Bloch-wave spot lists of one phase at given rotations and thicknesses.

    Parameters
    ----------
    phase
        An orix phase with atoms.
    rotations
        ``n`` rotations (orix/diffsims convention, as
        :func:`~pyxem_transformer.simulation.simulate_spots` draws them), or
        ``(n, 4)`` quaternions.
    thickness
        Sample thickness in Å, one for all or one per rotation.
    thermal_sigma
        RMS thermal displacement of the atoms (Å), the Debye-Waller factor's
        ``sqrt(B / (8 pi**2))``; one for all or one per rotation (each
        distinct value costs every worker one structure factor).
    accelerating_voltage
        Beam energy in kV.
    reciprocal_radius
        Largest ``|g|`` kept as a spot (1/Å).
    minimum_intensity
        Spots weaker than this fraction of the pattern's strongest are left
        out.
    beam_excitation_error
        Beams within this excitation error (1/Å) enter the calculation.
    beam_margin
        Beams reach this far (1/Å) beyond ``reciprocal_radius``.
    n_jobs
        Worker processes (each imports abTEM once; worth it from a few
        hundred orientations).
    show_progressbar
        Show a tqdm bar over tasks.

    Returns
    -------
    spots
        A :class:`BlochSpots`.
    """
    q = rotations.data if isinstance(rotations, Rotation) else np.asarray(rotations)
    q = q.reshape(-1, 4)
    t = np.broadcast_to(np.asarray(thickness, float), (q.shape[0],))
    if not np.all(t > 0):
        raise ValueError("`thickness` must be positive (Å).")
    _abtem()  # a clear error before any work
    options = {
        "voltage": float(accelerating_voltage),
        "radius": float(reciprocal_radius),
        "minimum": float(minimum_intensity),
        "excitation": float(beam_excitation_error),
        "margin": float(beam_margin),
    }
    sigma = np.broadcast_to(np.asarray(thermal_sigma, float), (q.shape[0],))
    d = phase_to_dict(phase)
    # Tasks of at most _TASK orientations that share one thermal sigma.
    cuts = np.flatnonzero(np.diff(sigma)) + 1
    tasks = []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, q.shape[0]], strict=True):
        for i in range(a, b, _TASK):
            j = min(i + _TASK, b)
            tasks.append((d, q[i:j], t[i:j], float(sigma[i]), options))
    spots, direct = [], []
    with tqdm(
        total=q.shape[0],
        disable=not show_progressbar,
        desc="Bloch waves",
        unit="pattern",
    ) as bar:
        for s, dv in _map(tasks, int(n_jobs)):
            spots += s
            direct += dv
            bar.update(len(s))
    return BlochSpots(spots, np.asarray(direct))


def _map(tasks, n_jobs):
    if n_jobs <= 1 or len(tasks) <= 1:
        yield from map(_chunk, tasks)
        return
    # Spawned workers: no forked copy of torch's or numba's thread pools.
    with ProcessPoolExecutor(
        min(n_jobs, len(tasks)), mp_context=get_context("spawn")
    ) as pool:
        yield from pool.map(_chunk, tasks)
