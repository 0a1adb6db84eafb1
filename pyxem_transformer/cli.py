"""Command-line interface: ``pyxem-transformer <command>``."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _simulate(args: argparse.Namespace) -> int:
    from orix import io

    from . import data, phases

    try:
        phase_list = [phases.by_name(name) for name in args.phase]
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.suffix not in (".hspy", ".zspy"):
        print("error: --out must end in .hspy or .zspy", file=sys.stderr)
        return 2
    signal, truth = data.simulated_grains(
        phase_list,
        scan_shape=tuple(args.scan),
        detector_shape=(args.detector, args.detector),
        calibration=args.calibration,
        disk_sigma=args.disk_sigma,
        dose=args.dose,
        max_excitation_error=args.max_excitation_error,
        n_grains=args.grains,
        seed=args.seed,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    signal.save(out, overwrite=True)
    truth_path = out.with_name(out.stem + "_truth.h5")
    io.save(truth_path, truth, overwrite=True)
    counts = {p.name: int((truth.phase_id == i).sum()) for i, p in truth.phases}
    print(f"wrote {out} ({signal.data.shape}, 1/Å per pixel {args.calibration})")
    print(f"wrote {truth_path} (true rotation and phase per pixel: {counts})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyxem-transformer",
        description="Transformer orientation and phase mapping for pyxem.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser(
        "simulate",
        help="simulate a grain map with known orientations (ground truth)",
        description=(
            "Write a simulated Diffraction2D (.hspy/.zspy) and its ground-truth "
            "orix CrystalMap (<out>_truth.h5)."
        ),
    )
    sim.add_argument(
        "--phase",
        action="append",
        default=None,
        help="built-in phase name (repeat for several): al, cu, cu2o, si, "
        "fe_bcc, fe_fcc, ti; default cu",
    )
    sim.add_argument(
        "--scan", type=int, nargs=2, default=(32, 32), metavar=("ROWS", "COLS")
    )
    sim.add_argument("--detector", type=int, default=128, help="pixels per side")
    sim.add_argument("--calibration", type=float, default=0.02, help="1/Å per pixel")
    sim.add_argument("--disk-sigma", type=float, default=2.0, help="pixels")
    sim.add_argument("--dose", type=float, default=None, help="electrons per pattern")
    sim.add_argument("--max-excitation-error", type=float, default=0.1, help="1/Å")
    sim.add_argument("--grains", type=int, default=10)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--out", required=True, help="output file, .hspy or .zspy")
    sim.set_defaults(func=_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if getattr(args, "phase", "unset") is None:
        args.phase = ["cu"]
    try:
        return args.func(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
