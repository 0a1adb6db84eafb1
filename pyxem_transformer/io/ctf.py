"""A writer of crystal maps in Oxford's Channel Text File (``.ctf``) format.

orix 0.15 reads ``.ctf`` files but does not write them, and MTEX, AZtec
Crystal and ATEX read them, so this module writes one: a header with the
scan grid and each phase's lattice, Laue group and space group, then one
row per pattern. It is checked by reading its files back with orix's reader
(``tests/test_map_cli.py``).

Columns: ``Phase`` (1-based; 0 for patterns not indexed), ``X``, ``Y``,
``Bands`` (tokens read), ``Error`` (0, or 3 "no solution" for patterns not
indexed), ``Euler1-3`` (Bunge, degrees, the rotations as orix holds them),
``MAD`` (fit RMS residual in 1/Å x 1000), ``BC`` (confidence x 255) and
``BS`` (explained fraction x 255).
"""

import os
from pathlib import Path

import numpy as np
from orix.crystal_map import CrystalMap
from orix.quaternion import Rotation

__all__ = ["best_rotations", "write_ctf"]

#: Channel 5's Laue group numbers, by orix's Laue group names.
LAUE_IDS = {
    "-1": 1,
    "2/m": 2,
    "mmm": 3,
    "4/m": 4,
    "4/mmm": 5,
    "-3": 6,
    "-3m": 7,
    "6/m": 8,
    "6/mmm": 9,
    "m-3": 10,
    "m-3m": 11,
}


def write_ctf(path: str | Path, xmap: CrystalMap, voltage: float = 200.0) -> None:
    """Write a crystal map as a ``.ctf`` file, atomically.

    Parameters
    ----------
    path
        File to write.
    xmap
        A 2D crystal map (this package's ``to_crystal_map()`` or any other).
    voltage
        Accelerating voltage (kV) for the header.
    """
    path = Path(path)
    rows, cols = (xmap.shape + (1,))[:2] if xmap.ndim == 1 else xmap.shape
    lines = [
        "Channel Text File",
        "Prj\tpyxem-transformer",
        "Author\tpyxem-transformer",
        "JobMode\tGrid",
        f"XCells\t{cols}",
        f"YCells\t{rows}",
        f"XStep\t{xmap.dx if xmap.dx else 1.0:.6g}",
        f"YStep\t{xmap.dy if xmap.dy else 1.0:.6g}",
        "AcqE1\t0",
        "AcqE2\t0",
        "AcqE3\t0",
        "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t0\tCoverage\t100"
        f"\tDevice\t0\tKV\t{voltage:g}\tTiltAngle\t0\tTiltAxis\t0",
        *_phase_lines(xmap),
        "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS",
    ]
    table = _rows(xmap)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
        np.savetxt(
            f, table, fmt="%d\t%.4f\t%.4f\t%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%d\t%d"
        )
    os.replace(tmp, path)


def best_rotations(xmap: CrystalMap) -> np.ndarray:
    """The best candidate's rotation of each pixel.

    Parameters
    ----------
    xmap
        A crystal map, with one or several (``n_best``) rotations per pixel.

    Returns
    -------
    quaternions
        ``(n, 4)``, one per pixel.
    """
    return xmap.rotations.data.reshape(xmap.size, -1, 4)[:, 0]


def _phase_lines(xmap: CrystalMap) -> list[str]:
    ids = [i for i in xmap.phases.ids if i >= 0]
    lines = [f"Phases\t{len(ids)}"]
    for i in ids:
        phase = xmap.phases[i]
        lattice = phase.structure.lattice
        abc = ";".join(f"{v:.4f}" for v in (lattice.a, lattice.b, lattice.c))
        angles = ";".join(
            f"{v:.3f}" for v in (lattice.alpha, lattice.beta, lattice.gamma)
        )
        laue = LAUE_IDS.get(phase.point_group.laue.name, 0) if phase.point_group else 0
        group = phase.space_group.number if phase.space_group is not None else 0
        lines.append(f"{abc}\t{angles}\t{phase.name}\t{laue}\t{group}")
    return lines


def _rows(xmap: CrystalMap) -> np.ndarray:
    """One row per pattern, in the map's (row-major) order."""
    ids = [i for i in xmap.phases.ids if i >= 0]
    number = {i: k + 1 for k, i in enumerate(ids)}
    phase_id = xmap.get_map_data("phase_id", decimals=0).ravel().astype(int)
    ctf_phase = np.array([number.get(i, 0) for i in phase_id])
    n = phase_id.size
    euler = np.rad2deg(Rotation(best_rotations(xmap)).to_euler())
    prop = xmap.prop

    def column(name, scale, default=0.0):
        if name not in prop:
            return np.full(n, default)
        return np.nan_to_num(np.asarray(prop[name], float).ravel() * scale)

    y = xmap.y if xmap.y is not None else np.zeros(n)
    return np.column_stack(
        [
            ctf_phase,
            xmap.x,
            y,
            column("n_tokens", 1),
            np.where(ctf_phase == 0, 3, 0),
            euler,
            column("fit_rms", 1000),
            np.round(column("confidence", 255)),
            np.round(column("explained", 255)),
        ]
    )
