"""Quick start: an orientation and phase map from a pyxem signal in a minute.

    python examples/quick_start.py [--quick] [--out FOLDER]

A simulated Cu + Cu2O scan stands in for your data (no downloads); swap in
``hs.load("your_scan.zspy", lazy=True)`` with a 1/Å calibration. Writes
``quick_start.png``: the IPF-Z map, the phase map, the confidence, and the
ground truth the simulation knows. ``--quick`` runs a 16x16 scan (the CI
smoke test); the figure in the docs is the full 48x48 run.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pyxem_transformer as pxt  # noqa: E402  (adds the signal method)
from pyxem_transformer.evaluation.demo import ipf_rgb, phase_rgb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    scan = 16 if args.quick else 48

    # 1. Data: a lazy, calibrated pyxem Diffraction2D (here simulated).
    s, truth = pxt.data.simulated_grains(
        [pxt.phases.cu(), pxt.phases.cu2o()],
        scan_shape=(scan, scan),
        dose=3000,
        n_grains=max(2, scan * scan // 90),
        seed=0,
    )
    s = s.as_lazy()

    # 2. Map it with the shipped Cu + Cu2O model.
    model = pxt.pretrained("cu_cu2o")
    om = s.get_orientation_map_transformer(model)
    xmap = om.to_crystal_map()  # orix CrystalMap, pyxem's conventions

    # 3. Score it against the truth (only a simulation has one).
    summary = pxt.metrics.compare_crystal_maps(xmap, truth).summary()
    print(
        f"median misorientation {summary.median_misorientation:.2f} deg, "
        f"{summary.fraction_under_2:.0%} under 2 deg, phase accuracy "
        f"{summary.phase_accuracy:.1%}"
    )

    # 4. Plot: IPF-Z, phases, confidence, truth.
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
    panels = [
        (ipf_rgb(xmap), "IPF-Z (transformer)"),
        (phase_rgb(xmap), "phase: Cu orange, Cu2O red"),
        (xmap.get_map_data("confidence"), "confidence"),
        (ipf_rgb(truth), "IPF-Z (ground truth)"),
    ]
    for ax, (image, title) in zip(axes, panels, strict=True):
        shown = ax.imshow(image, interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(title)
        ax.set_axis_off()
        if title == "confidence":
            fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "quick_start.png", dpi=80)
    print(f"wrote {out / 'quick_start.png'}")


if __name__ == "__main__":
    main()
