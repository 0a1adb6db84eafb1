"""pyxem's own tests for the signals we extend still pass with our package loaded."""

import subprocess
import sys

# Modules covering Diffraction2D (which gains our method) and OrientationMap
# (whose API our result mirrors); about 90 s on two cores.
PYXEM_TEST_MODULES = [
    "pyxem.tests.signals.test_diffraction2d",
    "pyxem.tests.signals.test_indexation_results",
]


def test_pyxem_signal_tests_pass_with_pyxem_transformer_imported(tmp_path):
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import pyxem\n"
        "def test_method_attached():\n"
        "    assert hasattr(pyxem.signals.Diffraction2D,"
        " 'get_orientation_map_transformer')\n"
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "pyxem_transformer",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        "-o",
        "addopts=",
        str(probe),
        "--pyargs",
        *PYXEM_TEST_MODULES,
    ]
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
