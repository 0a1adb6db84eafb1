"""Command-line interface: ``pyxem-transformer <command>``."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pyxem_transformer._map_command import add_map_command

__all__ = ["main"]


def _simulate(args: argparse.Namespace) -> int:
    from orix import io

    from pyxem_transformer.crystal import phases
    from pyxem_transformer.evaluation import data

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


def _load(name_or_path: str):
    from pyxem_transformer.model.network import load_model
    from pyxem_transformer.model.zoo import available, pretrained

    if name_or_path in available():
        return pretrained(name_or_path)
    if not Path(name_or_path).is_file():
        raise ValueError(
            f"Unknown model {name_or_path!r}: give a shipped model "
            f"({', '.join(available())}) or the path of a model file (.pt)."
        )
    return load_model(name_or_path)


def _benchmark(args: argparse.Namespace) -> int:
    from pyxem_transformer.evaluation.benchmark_suite import (
        CASES,
        QUICK_CASES,
        run_suite,
    )

    if args.list:
        for name, case in CASES.items():
            print(f"{name}: {case.describe()} (model {case.model})")
        return 0
    cases = args.cases or (list(QUICK_CASES) if args.quick else None)
    scan = args.scan or (16 if args.quick else 64)
    out = args.out
    if out is None and Path("pyproject.toml").exists() and Path("benchmarks").is_dir():
        out = "benchmarks/results"  # run from the repository
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 1:
        print(f"error: --repeats must be at least 1, got {repeats}", file=sys.stderr)
        return 2
    run_suite(
        cases,
        scan=scan,
        library_steps=args.library_step,
        seed=args.seed,
        repeats=repeats,
        out=out,
    )
    if out is not None:
        print(f"wrote {Path(out) / 'report.md'}, report.json and one PNG per case")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pyxem_transformer.evaluation.demo import run_demo

    run_demo(
        args.out,
        scan=args.scan,
        dose=None if args.dose <= 0 else args.dose,
        seed=args.seed,
        library_step=args.library_step,
    )
    print(f"wrote {Path(args.out) / 'demo.png'}, report.md and report.json")
    return 0


def _phase_argument(value: str):
    """A built-in phase name or a CIF file."""
    import warnings

    from pyxem_transformer.crystal import phases
    from pyxem_transformer.crystal.cif import SymmetryWarning, phase_from_cif

    path = Path(value)
    if path.suffix.lower() == ".cif":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SymmetryWarning)
            phase = phase_from_cif(path)
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
        return phase
    return phases.by_name(value)


def _train(args: argparse.Namespace) -> int:
    from pyxem_transformer.model.train import train_model

    try:
        phase_list = [_phase_argument(v) for v in args.phase]
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    for phase in phase_list:
        print(
            f"phase {phase.name}: space group "
            f"{phase.space_group.short_name if phase.space_group else '?'}, "
            f"point group {phase.point_group.name}; training over its "
            f"{phase.point_group.proper_subgroup.size} proper symmetry rotations"
        )
    model = train_model(
        phase_list,
        n_per_phase=args.n,
        epochs=args.epochs,
        max_minutes=args.minutes,
        device=args.device,
        seed=args.seed,
        checkpoint=args.checkpoint,
    )
    model.save(args.out)
    figures = model.training_info["validation"]
    print(
        f"wrote {args.out}: validation median {figures['median_misorientation']:.2f}"
        f" deg, {figures['fraction_under_5']:.0%} under 5 deg, phase accuracy "
        f"{figures['phase_accuracy']:.1%} (network alone, before refinement)"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyxem-transformer",
        description="Transformer orientation and phase mapping for pyxem.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_simulate(sub)
    _add_train(sub)
    _add_demo(sub)
    _add_benchmark(sub)
    add_map_command(sub)
    return parser


def _add_simulate(sub) -> None:
    """The ``simulate`` subcommand."""
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


def _add_train(sub) -> None:
    """The ``train`` subcommand."""
    train = sub.add_parser(
        "train",
        help="train a model for your phases on simulated data",
        description="Train a transformer on diffsims-simulated, augmented tokens.",
    )
    train.add_argument(
        "--phase",
        action="append",
        required=True,
        help="CIF file or built-in phase name (repeat for several)",
    )
    train.add_argument("--out", required=True, help="model file to write (.pt)")
    train.add_argument("--n", type=int, default=50_000, help="patterns per phase")
    train.add_argument("--epochs", type=int, default=20, help="at most")
    train.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="time budget; the learning-rate schedule ends with it or with "
        "--epochs, whichever comes first",
    )
    train.add_argument("--device", default="auto")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--checkpoint",
        default=None,
        help="training-state file written every epoch; resumes from it if present",
    )
    train.set_defaults(func=_train)


def _add_demo(sub) -> None:
    """The ``demo`` subcommand."""
    demo = sub.add_parser(
        "demo",
        help="map a simulated Cu + Cu2O sample with both methods and compare",
        description="Simulate a noisy Cu + Cu2O grain map, map it with the "
        "shipped model and with pyxem template matching, and write demo.png, "
        "report.md and report.json (a minute on 2 cores).",
    )
    demo.add_argument("--out", default="demo", help="output folder (default demo)")
    demo.add_argument("--scan", type=int, default=48, help="scan side in patterns")
    demo.add_argument(
        "--dose", type=float, default=3000.0, help="electrons per pattern; 0: no noise"
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--library-step", type=float, default=1.0, metavar="DEG")
    demo.set_defaults(func=_demo)


def _add_benchmark(sub) -> None:
    """The ``benchmark`` subcommand."""
    bench = sub.add_parser(
        "benchmark",
        help="side-by-side suite against pyxem template matching",
        description="Time and score the transformer and pyxem template matching "
        "end to end on the same simulated samples: cubic, hexagonal and "
        "two-phase, each noise-free, at 3000 and at 300 e/pattern, plus a "
        "calibration-error and an excitation-error-mismatch case.",
    )
    bench.add_argument("--cases", nargs="+", default=None, metavar="CASE")
    bench.add_argument(
        "--quick", action="store_true", help="smoke test: a 16x16 scan, 2 cases"
    )
    bench.add_argument("--list", action="store_true", help="list the cases")
    bench.add_argument("--scan", type=int, default=None, help="scan side (64)")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs per method, interleaved; the median counts (3; 1 with "
        "--quick)",
    )
    bench.add_argument(
        "--library-step", type=float, nargs="+", default=[1.0], metavar="DEG"
    )
    bench.add_argument(
        "--out", default=None, help="report folder (benchmarks/results in the repo)"
    )
    bench.set_defaults(func=_benchmark)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    status
        0 on success, 2 for bad input (the message is printed).
    """
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
