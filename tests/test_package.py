import filecmp
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import hyperspy.api as hs
import numpy as np
import pytest

import pyxem_transformer
from pyxem_transformer import data, phases
from pyxem_transformer.mapping.result import orientation_map_from_arrays
from pyxem_transformer.signals import (
    LazyTransformerOrientationMap,
    TransformerOrientationMap,
)

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_yaml_is_the_package_yaml():
    top = ROOT / "hyperspy_extension.yaml"
    inner = Path(pyxem_transformer.__file__).parent / "hyperspy_extension.yaml"
    assert top.exists() and inner.exists()
    assert filecmp.cmp(top, inner, shallow=False)


def test_entry_point_and_known_signal_type(capsys):
    eps = importlib.metadata.entry_points(group="hyperspy.extensions")
    assert "pyxem_transformer" in {ep.value for ep in eps}
    from hyperspy.extensions import ALL_EXTENSIONS

    entry = ALL_EXTENSIONS["signals"]["TransformerOrientationMap"]
    assert entry["signal_type"] == "transformer_orientation_map"
    assert ALL_EXTENSIONS["signals"]["LazyTransformerOrientationMap"]["lazy"]
    hs.print_known_signal_types()
    out = capsys.readouterr().out
    # hyperspy's table truncates long names to 20 characters.
    assert "transformer_orientat" in out and "pyxem_transformer" in out


def test_import_attaches_method_in_a_fresh_interpreter():
    code = (
        "import pyxem\n"
        "assert not hasattr(pyxem.signals.Diffraction2D, "
        "'get_orientation_map_transformer')\n"
        "import pyxem_transformer\n"
        "from pyxem.signals import (Diffraction2D, LazyDiffraction2D, "
        "ElectronDiffraction2D, LazyElectronDiffraction2D)\n"
        "print(all(hasattr(c, 'get_orientation_map_transformer') for c in "
        "(Diffraction2D, LazyDiffraction2D, ElectronDiffraction2D, "
        "LazyElectronDiffraction2D)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().endswith("True")


#: Maps a small scan in a fresh process and prints, for the peak finder's
#: and the fit's compiled kernels, how often numba's on-disk cache was hit
#: and missed (a miss compiles).
_FIRST_MAP = """
import json
import pyxem_transformer as pxt
from pyxem_transformer.mapping import _fit_kernel
from pyxem_transformer.tokens import _peak_kernels
s, _ = pxt.data.simulated_grains(pxt.phases.cu(), (2, 2), n_grains=1, dose=3000)
s.get_orientation_map_transformer(pxt.pretrained("cu"), show_progressbar=False)
kernels = [_peak_kernels._find_peaks_kernel, _fit_kernel.fit_patterns]
print(json.dumps([
    [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())]
    for k in kernels
]))
"""


def test_a_second_process_maps_without_recompiling():
    # The kernels are cached on disk (numba cache=True: beside the module,
    # or in the user's cache folder where the package folder is read-only),
    # so only the first process on a machine compiles them (about 20 s).
    import json

    def run():
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_MAP],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    run()  # compiles if nothing was cached yet
    for hits, misses in run():
        assert hits >= 1 and misses == 0


def _result(n_best=1):
    rng = np.random.default_rng(0)
    q = data.random_rotations(6 * n_best, rng).data.reshape(2, 3, n_best, 4)
    phase_index = rng.integers(2, size=(2, 3, n_best))
    confidence = rng.uniform(size=(2, 3, n_best))
    nav = [
        {"name": "y", "units": "nm", "scale": 2.0, "offset": 0.0},
        {"name": "x", "units": "nm", "scale": 2.0, "offset": 10.0},
    ]
    result = orientation_map_from_arrays(
        q, phase_index, confidence, [phases.cu(), phases.cu2o()], nav
    )
    return result, q, phase_index, confidence


def test_set_signal_type_gives_our_class():
    s = hs.signals.Signal2D(np.zeros((2, 2, 1, 7)))
    s.set_signal_type("transformer_orientation_map")
    assert isinstance(s, TransformerOrientationMap)
    lazy = s.as_lazy()
    assert isinstance(lazy, LazyTransformerOrientationMap)


@pytest.mark.parametrize("extension", ["hspy", "zspy"])
def test_saved_result_loads_back_complete(tmp_path, extension):
    result, q, phase_index, confidence = _result(n_best=2)
    path = tmp_path / f"result.{extension}"
    result.save(path)
    back = hs.load(path)
    assert isinstance(back, TransformerOrientationMap)
    np.testing.assert_allclose(back.data, result.data)
    assert back.phases.names == ["Cu", "Cu2O"]
    xmap = back.to_crystal_map()
    assert xmap.shape == (2, 3)
    assert xmap.scan_unit == "nm"
    np.testing.assert_allclose(np.unique(xmap.x), [10, 12, 14])
    np.testing.assert_array_equal(xmap.phase_id, phase_index[..., 0].ravel())
    np.testing.assert_allclose(
        xmap.prop["confidence"], confidence[..., 0].ravel(), rtol=1e-6
    )
    np.testing.assert_allclose(
        xmap.rotations.data[:, 0], q[..., 0, :].reshape(-1, 4), atol=1e-6
    )


def test_result_without_phases_says_so():
    s = hs.signals.Signal2D(np.zeros((2, 2, 1, 7)))
    s.set_signal_type("transformer_orientation_map")
    with pytest.raises(ValueError, match="no phase list"):
        s.to_crystal_map()


def test_result_builder_checks_shapes():
    q = np.zeros((2, 3, 1, 4))
    with pytest.raises(ValueError, match="phase_index"):
        orientation_map_from_arrays(
            q, np.zeros((2, 3)), np.zeros((2, 3, 1)), [phases.cu()]
        )
