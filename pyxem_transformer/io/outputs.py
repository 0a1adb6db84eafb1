"""The folder that ``pyxem-transformer map`` writes, all or nothing.

Everything goes to a hidden sibling folder first and is renamed to the
requested name only when every file is written, so an interrupted run
leaves no folder that looks complete.

Files:

* ``result.zspy``: the result signal (reload with ``hs.load``);
* ``crystal_map.h5`` (orix HDF5), ``crystal_map.ang`` (orix's writer) and
  ``crystal_map.ctf`` (:func:`~pyxem_transformer.io.ctf.write_ctf`): read by
  orix, MTEX and the EBSD tools;
* ``ipf_z.png``, ``phase.png``, ``confidence.png``: the maps;
* ``report.md``: the data, model and calibration used, patterns per second,
  the fraction not indexed and the confidence histogram.
"""

import os
import shutil
from pathlib import Path

import numpy as np
from matplotlib.image import imsave
from orix import io as orix_io
from orix.plot import IPFColorKeyTSL
from orix.quaternion import Orientation
from orix.vector import Vector3d

from pyxem_transformer.io.ctf import best_rotations, write_ctf

__all__ = ["write_map_outputs"]


def write_map_outputs(
    result, out: str | Path, *, summary: dict, overwrite: bool = False
) -> Path:
    """Write a mapping result's files into the folder ``out``.

    Parameters
    ----------
    result
        A ``TransformerOrientationMap`` (computed).
    out
        The folder to create.
    summary
        ``source``, ``model``, ``seconds`` (mapping time) and ``n_patterns``,
        for the report.
    overwrite
        Replace an existing folder.

    Returns
    -------
    out
        The folder written.

    Raises
    ------
    FileExistsError
        If ``out`` exists and ``overwrite`` is False.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(
            f"{out} already exists; choose another --out or pass --overwrite."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        _write_all(result, partial, summary)
        if out.exists():
            shutil.rmtree(out)
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out


def _write_all(result, folder: Path, summary: dict) -> None:
    result.save(folder / "result.zspy")
    xmap = result.to_crystal_map()
    orix_io.save(str(folder / "crystal_map.h5"), xmap)
    orix_io.save(str(folder / "crystal_map.ang"), xmap)
    voltage = result.metadata.get_item(
        "Acquisition_instrument.TEM.beam_energy", default=200.0
    )
    write_ctf(folder / "crystal_map.ctf", xmap, voltage=float(voltage))
    shape = xmap.shape if xmap.ndim == 2 else (1, xmap.size)
    imsave(folder / "ipf_z.png", _ipf_z(xmap).reshape(*shape, 3))
    imsave(folder / "phase.png", _phase_colours(xmap).reshape(*shape, 3))
    confidence = np.asarray(xmap.prop.get("confidence", np.zeros(xmap.size)))
    imsave(
        folder / "confidence.png",
        confidence.reshape(shape),
        cmap="viridis",
        vmin=0,
        vmax=1,
    )
    (folder / "report.md").write_text(_report(result, xmap, summary))


def _ipf_z(xmap) -> np.ndarray:
    """IPF-Z colours per pixel (black where not indexed)."""
    rgb = np.zeros((xmap.size, 3))
    q = best_rotations(xmap)
    for i, phase in xmap.phases:
        rows = np.flatnonzero(xmap.phase_id == i)
        if i < 0 or rows.size == 0:
            continue
        key = IPFColorKeyTSL(phase.point_group, direction=Vector3d.zvector())
        rgb[rows] = key.orientation2color(Orientation(q[rows], phase.point_group))
    return np.clip(rgb, 0, 1)


def _phase_colours(xmap) -> np.ndarray:
    rgb = np.zeros((xmap.size, 3))
    for i, phase in xmap.phases:
        if i >= 0:
            rgb[xmap.phase_id == i] = phase.color_rgb
    return rgb


def _report(result, xmap, summary: dict) -> str:
    n = int(summary["n_patterns"])
    seconds = float(summary["seconds"])
    not_indexed = float(np.mean(xmap.phase_id < 0))
    calibration = result.metadata.get_item("Transformer.calibration", default=None)
    counts = {p.name: int(np.sum(xmap.phase_id == i)) for i, p in xmap.phases if i >= 0}
    confidence = np.asarray(xmap.prop.get("confidence", np.zeros(xmap.size)))
    hist, edges = np.histogram(confidence, bins=10, range=(0, 1))
    lines = [
        "# Orientation map",
        "",
        f"- Data: `{summary['source']}` ({n} patterns, scan {xmap.shape})",
        f"- Model: `{summary['model']}`",
        f"- Mapping: {seconds:.1f} s, {n / max(seconds, 1e-9):.0f} patterns/s "
        "(peak finding, calibration check, network and fit)",
        f"- Not indexed: {not_indexed:.1%}",
        f"- Pixels per phase: {counts}",
        f"- Calibration used: {_calibration_text(calibration)}",
        "",
        "## Confidence (probability of being within 5° with the right phase)",
        "",
        "| confidence | pixels |",
        "| --- | --- |",
        *[
            f"| {a:.1f}-{b:.1f} | {c} |"
            for a, b, c in zip(edges[:-1], edges[1:], hist, strict=True)
        ],
        "",
        "Files: result.zspy (hyperspy), crystal_map.h5 (orix), crystal_map.ang, "
        "crystal_map.ctf, ipf_z.png, phase.png, confidence.png.",
    ]
    return "\n".join(lines) + "\n"


def _calibration_text(calibration) -> str:
    if calibration is None:
        return "as stored in the data"
    items = calibration.as_dictionary() if hasattr(calibration, "as_dictionary") else {}
    return ", ".join(f"{k} = {v}" for k, v in items.items()) or str(calibration)
