"""The demo: map a simulated Cu + Cu2O sample and compare with template matching.

``pyxem-transformer demo --out DIR`` (or :func:`run_demo`) simulates a
two-phase grain map with Poisson noise, maps it with the shipped
``cu_cu2o`` model and with pyxem template matching (its best settings, see
:mod:`pyxem_transformer.evaluation.benchmark`), scores both against the known truth
and writes to ``DIR``:

* ``demo.png``: IPF-Z colour maps (ours, template matching, truth), phase
  maps, and misorientation histograms;
* ``report.md`` and ``report.json``: speed (patterns/s end to end, ratio)
  and accuracy (median misorientation, fraction under 2 and 5 degrees,
  phase accuracy) of both methods.

Everything is simulated on the spot; nothing is downloaded.
"""

import json
import logging
import time
from pathlib import Path

import numpy as np
from orix.crystal_map import CrystalMap
from orix.plot import IPFColorKeyTSL
from orix.quaternion import Orientation
from orix.vector import Vector3d

from pyxem_transformer.crystal import phases
from pyxem_transformer.evaluation import data
from pyxem_transformer.evaluation.benchmark import (
    MethodResult,
    run_template_matching,
    run_transformer,
)
from pyxem_transformer.evaluation.metrics import compare_crystal_maps
from pyxem_transformer.model.zoo import pretrained

__all__ = ["ipf_rgb", "phase_rgb", "run_demo"]


def ipf_rgb(xmap: CrystalMap, direction: Vector3d | None = None) -> np.ndarray:
    """Return IPF colours of a crystal map's best orientations, in its shape.

    Each point is coloured with the orix ``IPFColorKeyTSL`` of its own
    phase's point group along ``direction`` (default the beam, z); points
    not indexed are black.

    Parameters
    ----------
    xmap
        The map, e.g. from ``to_crystal_map()`` of our result or of pyxem's.
    direction
        Sample direction of the key.

    Returns
    -------
    rgb
        Array of shape ``(*xmap.shape, 3)`` with values in [0, 1].
    """
    direction = Vector3d.zvector() if direction is None else direction
    rotations = xmap.rotations.data
    if rotations.ndim == 3:  # several candidates per point: colour the best
        rotations = rotations[:, 0]
    rgb = np.zeros((xmap.size, 3))
    for phase_id, phase in xmap.phases:
        here = xmap.phase_id == phase_id
        if phase_id < 0 or not here.any():
            continue
        key = IPFColorKeyTSL(phase.point_group, direction)
        orientations = Orientation(rotations[here], symmetry=phase.point_group)
        rgb[here] = key.orientation2color(orientations)
    return rgb.reshape(*xmap.shape, 3)


def phase_rgb(xmap: CrystalMap) -> np.ndarray:
    """Return each point's phase colour (black where not indexed).

    Parameters
    ----------
    xmap
        The crystal map.

    Returns
    -------
    rgb
        Array of shape ``(*xmap.shape, 3)``.
    """
    rgb = np.zeros((xmap.size, 3))
    for phase_id, phase in xmap.phases:
        if phase_id >= 0:
            rgb[xmap.phase_id == phase_id] = phase.color_rgb
    return rgb.reshape(*xmap.shape, 3)


def _figure(path: Path, truth: CrystalMap, results: list[MethodResult]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps = [(r.name, r.xmap) for r in results] + [("ground truth", truth)]
    fig, axes = plt.subplots(3, len(maps), figsize=(4 * len(maps), 11.5))
    for column, (name, xmap) in enumerate(maps):
        axes[0, column].imshow(ipf_rgb(xmap), interpolation="nearest")
        axes[0, column].set_title(f"{name}: IPF-Z")
        axes[1, column].imshow(phase_rgb(xmap), interpolation="nearest")
        names = ", ".join(p.name for i, p in xmap.phases if i >= 0)
        axes[1, column].set_title(f"{name}: phase ({names})")
        for ax in axes[:2, column]:
            ax.set_xticks([])
            ax.set_yticks([])
    bins = np.linspace(0, 20, 41)
    for column, result in enumerate(results):
        ax = axes[2, column]
        mis = compare_crystal_maps(result.xmap, truth).misorientation.ravel()
        wrong_phase = np.isnan(mis)
        ax.hist(np.clip(mis[~wrong_phase], 0, 20), bins=bins, color="0.3")
        a = result.accuracy
        ax.set_title(
            f"median {a.median_misorientation:.2f}°, "
            f"{a.fraction_under_2:.0%} < 2°, {a.fraction_under_5:.0%} < 5°"
        )
        ax.set_xlabel("misorientation to truth (deg, > 20 in last bin)")
        ax.set_ylabel("pixels")
        if wrong_phase.any():
            ax.text(
                0.98,
                0.95,
                f"{wrong_phase.mean():.1%} wrong phase",
                transform=ax.transAxes,
                ha="right",
                va="top",
            )
    speed = (
        f"{results[0].patterns_per_second:.0f} vs "
        f"{results[1].patterns_per_second:.0f} patterns/s "
        f"({results[0].patterns_per_second / results[1].patterns_per_second:.1f}x)"
    )
    axes[2, -1].axis("off")
    axes[2, -1].text(
        0.0,
        0.5,
        f"end to end, Diffraction2D\nto CrystalMap:\n{speed}",
        va="center",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _report(case: str, rows: list[dict]) -> str:
    base = rows[1]["patterns_per_second"]
    lines = [
        "# pyxem-transformer demo",
        "",
        f"Sample: {case}",
        "",
        "| method | patterns/s | speed-up | median (deg) | < 2 deg | < 5 deg "
        "| phase accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['patterns_per_second']:.0f} "
            f"| {r['patterns_per_second'] / base:.1f}x "
            f"| {r['median_misorientation']:.2f} | {r['fraction_under_2']:.0%} "
            f"| {r['fraction_under_5']:.0%} | {r['phase_accuracy']:.1%} |"
        )
    lines += ["", "Settings:"] + [f"- {r['method']}: {r['settings']}" for r in rows]
    lines += [
        "",
        "Speed: end to end from the Diffraction2D to an orix CrystalMap, after "
        "warm-up, both methods in this one process on the same data. Accuracy: "
        "symmetry-reduced misorientation to the simulated truth; the 180° "
        "about-the-beam twin of a zero-order pattern counts as right (a "
        "zero-order pattern cannot tell them apart); a wrong phase counts as a "
        "failure.",
    ]
    return "\n".join(lines) + "\n"


def run_demo(
    out: str | Path,
    *,
    scan: int = 48,
    dose: float | None = 3000.0,
    n_grains: int = 25,
    seed: int = 0,
    library_step: float = 1.0,
    model: str = "cu_cu2o",
    verbose: bool = True,
) -> dict:
    """Run the demo and write ``demo.png``, ``report.md`` and ``report.json``.

    Parameters
    ----------
    out
        Folder to write into (made if missing).
    scan
        The scan is ``scan x scan`` patterns of 128 x 128 pixels.
    dose
        Electrons per pattern (Poisson noise); None for noise-free patterns.
    n_grains
        Number of grains in the simulated sample.
    seed
        Seed of the simulation.
    library_step
        Template matching's library step in degrees.
    model
        Name of a shipped model (:func:`pyxem_transformer.pretrained`) whose
        phases are simulated.
    verbose
        Print each step.

    Returns
    -------
    report
        The dictionary written to ``report.json``: ``case`` and ``rows``
        (one per method).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *a, **k: None)
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    transformer = pretrained(model)
    phase_list = [phases.by_name(p.name.lower()) for p in transformer.phases]
    max_excitation_error = 0.1
    case = (
        f"{'+'.join(p.name for p in phase_list)}, {scan}x{scan} scan of 128x128 "
        f"patterns, 0.02 1/Å per pixel, disks sigma 2 px, "
        f"{'noise-free' if dose is None else f'{dose:g} electrons per pattern'}, "
        f"max_excitation_error {max_excitation_error} 1/Å, {n_grains} grains, "
        f"seed {seed}"
    )
    say(f"[1/4] simulating {case}")
    start = time.perf_counter()
    signal, truth = data.simulated_grains(
        phase_list,
        scan_shape=(scan, scan),
        dose=dose,
        max_excitation_error=max_excitation_error,
        n_grains=n_grains,
        seed=seed,
    )
    say(f"      done in {time.perf_counter() - start:.0f} s")
    say(f"[2/4] mapping with the transformer (model '{model}')")
    ours = run_transformer(signal, truth, transformer, stages=False)
    say(f"      {ours.patterns_per_second:.0f} patterns/s")
    say(f"[3/4] template matching, {library_step} deg library")
    tm = run_template_matching(signal, truth, max_excitation_error, library_step)
    say(f"      {tm.patterns_per_second:.0f} patterns/s")
    say(f"[4/4] writing {out}")
    rows = [ours.row(), tm.row()]
    report = {"case": case, "rows": rows}
    _figure(out / "demo.png", truth, [ours, tm])
    (out / "report.md").write_text(_report(case, rows))
    (out / "report.json").write_text(json.dumps(report, indent=1))
    say(_report(case, rows))
    return report
