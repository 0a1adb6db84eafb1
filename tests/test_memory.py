"""Mapping a lazy signal keeps memory bounded by the chunk size."""

import subprocess
import sys
import textwrap


def test_lazy_map_of_a_signal_much_larger_than_memory_used(tmp_path):
    # 128x128 patterns of 128x128 float32: 1 GiB if it were ever loaded whole;
    # chunks of 16x16 patterns are 16 MiB. The model path is a saved model so
    # the child process starts clean.
    script = textwrap.dedent(
        """
        import resource, sys
        import dask.array as da
        import numpy as np
        import pyxem_transformer as pxt
        from pyxem.signals import LazyDiffraction2D

        small, _ = pxt.data.simulated_grains(pxt.phases.cu(), scan_shape=(16, 16),
                                             n_grains=4, seed=1)
        tile = da.from_array(small.data, chunks=(16, 16, 128, 128))
        data = da.tile(tile, (8, 8, 1, 1))
        assert data.nbytes == 2**30 and data.chunksize == (16, 16, 128, 128)
        s = LazyDiffraction2D(data)
        for a, b in zip(s.axes_manager.signal_axes, small.axes_manager.signal_axes):
            a.scale, a.offset, a.units = b.scale, b.offset, b.units
        model = pxt.pretrained("cu")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
        result = s.get_orientation_map_transformer(model, show_progressbar=False)
        result.compute()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert result.data.shape == (128, 128, 1, 11)
        assert (result.data[..., 6] > 3).all()
        print((after - before) / 1024)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    grown_mib = float(run.stdout.strip().splitlines()[-1])
    # Measured 211 MiB (model, thread pools, two 16 MiB chunks in flight):
    # far below the 1024 MiB of the whole signal.
    assert grown_mib < 400, grown_mib


def test_interrupted_run_leaves_the_input_untouched(tmp_path, monkeypatch):
    import hashlib

    import hyperspy.api as hs
    import numpy as np
    import pytest

    import pyxem_transformer as pxt
    from pyxem_transformer.mapping import inference

    s, _ = pxt.data.simulated_grains(pxt.phases.cu(), scan_shape=(8, 8), seed=2)
    path = tmp_path / "scan.zspy"
    lazy = s.as_lazy()
    lazy.rechunk(nav_chunks=(4, 4))
    lazy.save(path)

    def digest():
        h = hashlib.sha256()
        for f in sorted(path.rglob("*")):
            if f.is_file():
                h.update(f.read_bytes())
        return h.hexdigest()

    before = digest()
    real, calls = inference.orientation_table, []

    def killed_on_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the map
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "orientation_table", killed_on_third_chunk)
    lazy = hs.load(path, lazy=True)
    model = pxt.pretrained("cu")
    with pytest.raises(KeyboardInterrupt):
        lazy.get_orientation_map_transformer(
            model, show_progressbar=False, calibration_check=False
        ).compute(scheduler="synchronous")
    assert len(calls) == 3
    assert digest() == before
    monkeypatch.setattr(inference, "orientation_table", real)
    again = hs.load(path, lazy=True)
    np.testing.assert_array_equal(again.data.compute(), s.data)
    result = again.get_orientation_map_transformer(model, show_progressbar=False)
    assert result.to_crystal_map().size == 64
