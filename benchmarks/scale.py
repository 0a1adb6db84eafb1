"""Map a large lazy scan stored as zarr end to end; report time and memory.

    python benchmarks/scale.py [--scan 256] [--detector 256] [--folder DIR]

Builds a ``scan x scan`` map of ``detector x detector`` uint16 patterns on
disk (a simulated 16x16 Cu grain map tiled over the scan, written chunk by
chunk with dask, so it never sits in memory), maps it lazily with the
shipped ``cu`` model straight to an orix CrystalMap, and prints the wall time,
patterns/s, the process's peak resident memory and whether the input files
are byte-for-byte unchanged.
"""

import argparse
import hashlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import hyperspy.api as hs
import numpy as np

import pyxem_transformer as pxt


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scan", type=int, default=256)
    parser.add_argument("--detector", type=int, default=256)
    parser.add_argument("--folder", default=None)
    parser.add_argument("--map", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.map:
        map_file(Path(args.map))
        return
    folder = Path(args.folder or tempfile.mkdtemp(prefix="pxt-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scan.zspy"

    tile, _ = pxt.data.simulated_grains(
        pxt.phases.cu(),
        scan_shape=(16, 16),
        detector_shape=(args.detector, args.detector),
        dose=3000,
        n_grains=6,
        seed=0,
    )
    reps = args.scan // 16
    data = da.tile(da.from_array(tile.data.astype(np.uint16)), (reps, reps, 1, 1))
    data = data.rechunk((32, 32, args.detector, args.detector))
    s = hs.signals.Signal2D(data).as_lazy()
    s.set_signal_type("electron_diffraction")
    for axis, source in zip(
        s.axes_manager.signal_axes, tile.axes_manager.signal_axes, strict=True
    ):
        axis.scale, axis.offset, axis.units = source.scale, source.offset, source.units
    start = time.perf_counter()
    s.save(path, overwrite=True)
    print(
        f"wrote {path}: {data.shape} uint16, {data.nbytes / 2**30:.1f} GiB "
        f"uncompressed, in {time.perf_counter() - start:.0f} s"
    )
    before = _digest(path)
    # Map in a fresh process so its peak memory is the mapping's alone.
    subprocess.run([sys.executable, __file__, "--map", str(path)], check=True)
    print(f"input unchanged: {_digest(path) == before}")
    if args.folder is None:
        shutil.rmtree(folder)


def map_file(path: Path) -> None:
    """Map the zarr file lazily to a CrystalMap; print time and peak memory."""
    lazy = hs.load(path, lazy=True)
    model = pxt.pretrained("cu")
    start = time.perf_counter()
    xmap = lazy.get_orientation_map_transformer(
        model, show_progressbar=True
    ).to_crystal_map()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    n = xmap.size
    shape = lazy.axes_manager.signal_shape
    print(
        f"mapped {n} patterns of {shape[0]}x{shape[1]} in {seconds:.0f} s "
        f"({n / seconds:.0f} patterns/s); peak resident memory of the mapping "
        f"process {peak:.2f} GiB; indexed: {np.mean(xmap.phase_id >= 0):.1%}"
    )


if __name__ == "__main__":
    main()
