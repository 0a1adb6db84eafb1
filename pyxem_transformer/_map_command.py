"""``pyxem-transformer map``: a user's own file, mapped without Python."""

import argparse
import sys
import time
from pathlib import Path

__all__ = ["add_map_command"]


def add_map_command(sub) -> None:
    """Add the ``map`` subcommand to the CLI's subparsers."""
    p = sub.add_parser(
        "map",
        help="map orientations and phases of a 4D-STEM file",
        description="Read a 4D-STEM dataset (anything hyperspy/rosettasciio "
        "reads: .hspy, .zspy, .mib, .blo, 4D .dm4, ...), check its "
        "calibration, map it and write the result signal, the crystal map "
        "(orix HDF5, .ang, .ctf), IPF-Z, phase and confidence maps and a "
        "report into a new folder.",
    )
    p.add_argument("data", help="the dataset file")
    p.add_argument("--model", required=True, help="a shipped model name or a .pt")
    p.add_argument("--out", required=True, help="folder to create")
    p.add_argument("--overwrite", action="store_true", help="replace --out")
    p.add_argument("--lazy", action="store_true", help="load and map lazily")
    p.add_argument("--n-best", type=int, default=1, help="candidates per pattern")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument(
        "--threshold", type=float, default=None, help="peak threshold (noise sigmas)"
    )
    p.add_argument("--min-distance", type=int, default=None, help="pixels")
    p.add_argument(
        "--background",
        choices=("radial", "flat"),
        default=None,
        help="peak threshold rule (radial: follows a diffuse background)",
    )
    p.add_argument(
        "--calibration",
        type=float,
        default=None,
        metavar="INV_A_PER_PX",
        help="set the reciprocal calibration (1/Å per pixel, centred beam) "
        "when the file lacks one",
    )
    p.add_argument(
        "--dynamical",
        action="store_true",
        help="nanobeam patterns of a thick sample: also search the tilt that "
        "best explains which reflections are bright (refine='dynamical'; not "
        "for precession or thin samples)",
    )
    p.set_defaults(func=_map)


def _peak_kwargs(args) -> dict | None:
    kwargs = {
        "threshold_sigma": args.threshold,
        "min_distance": args.min_distance,
        "background": args.background,
    }
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return kwargs or None


def _read(path: Path, lazy: bool, calibration: float | None):
    """The dataset as a Diffraction2D, or a ValueError that says what is wrong."""
    import hyperspy.api as hs

    from pyxem_transformer._validation import check_diffraction_signal

    if not path.exists():
        raise ValueError(f"{path} does not exist.")
    try:
        signal = hs.load(path, lazy=lazy)
    except Exception as error:  # rosettasciio raises many kinds
        raise ValueError(f"hyperspy cannot read {path}: {error}") from error
    if isinstance(signal, list):
        raise ValueError(f"{path} holds {len(signal)} signals; save the 4D one alone.")
    am = signal.axes_manager
    if am.signal_dimension != 2 or am.navigation_dimension not in (1, 2):
        raise ValueError(
            f"{path} is not a 4D diffraction dataset: navigation dimension "
            f"{am.navigation_dimension}, signal dimension {am.signal_dimension} "
            "(a scan of 2D patterns is needed)."
        )
    signal.set_signal_type("electron_diffraction")
    if calibration is not None:
        signal.calibration.scale = calibration
        signal.calibration.units = r"$\AA^{-1}$"
        signal.calibration.center = None
    try:
        check_diffraction_signal(signal)
    except ValueError as error:
        raise ValueError(
            f"{path}: {error} From the command line: --calibration <1/Å per pixel>."
        ) from error
    return signal


def _map(args: argparse.Namespace) -> int:
    from pyxem_transformer.cli import _load
    from pyxem_transformer.io.outputs import write_map_outputs

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        print(f"error: {out} already exists; pass --overwrite", file=sys.stderr)
        return 2
    model = _load(args.model)
    signal = _read(Path(args.data), args.lazy, args.calibration)
    print(f"read {args.data}: {signal}", flush=True)
    start = time.perf_counter()
    result = signal.get_orientation_map_transformer(
        model,
        peak_kwargs=_peak_kwargs(args),
        n_best=args.n_best,
        device=args.device,
        batch_size=args.batch_size,
        show_progressbar=True,
        refine="dynamical" if args.dynamical else True,
    )
    if getattr(result, "_lazy", False):
        result.compute()
    seconds = time.perf_counter() - start
    n = int(signal.axes_manager.navigation_size)
    summary = {
        "source": str(args.data),
        "model": args.model,
        "seconds": seconds,
        "n_patterns": n,
    }
    write_map_outputs(result, out, summary=summary, overwrite=args.overwrite)
    print(f"mapped {n} patterns in {seconds:.1f} s; wrote {out}/ (report.md)")
    return 0
