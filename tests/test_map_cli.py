"""``pyxem-transformer map``: a file written by ``simulate`` goes in, files
that orix (and MTEX) read come out; bad files get errors that say why."""

import subprocess
import sys

import hyperspy.api as hs
import numpy as np
import pytest
from orix import io

from pyxem_transformer.cli import main

FILES = [
    "result.zspy",
    "crystal_map.h5",
    "crystal_map.ang",
    "crystal_map.ctf",
    "ipf_z.png",
    "phase.png",
    "confidence.png",
    "report.md",
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("map")
    path = folder / "scan.hspy"
    args = ["simulate", "--phase", "cu", "--phase", "cu2o", "--scan", "4", "5"]
    args += ["--dose", "3000", "--grains", "3", "--out", str(path)]
    assert main(args) == 0
    return path


def _angles(a, b) -> np.ndarray:
    return np.degrees(a.rotations.angle_with(b.rotations))


def test_map_writes_files_that_orix_reads_back(sample, tmp_path, capsys):
    out = tmp_path / "result"
    args = ["map", str(sample), "--model", "cu_cu2o", "--out", str(out)]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    result = hs.load(out / "result.zspy")
    xmap = result.to_crystal_map()
    assert xmap.shape == (4, 5)
    for name in ("crystal_map.h5", "crystal_map.ang", "crystal_map.ctf"):
        back = io.load(out / name)
        assert back.shape == xmap.shape
        assert np.max(_angles(back, xmap)) < 0.01, name
        names = [back.phases[i].name for i in back.phase_id]
        assert names == [xmap.phases[i].name for i in xmap.phase_id], name
    truth = io.load(sample.with_name("scan_truth.h5"))
    assert np.median(_angles(xmap, truth)) < 180  # a real map of this scan
    report = (out / "report.md").read_text()
    for text in ("patterns/s", "Not indexed", "Calibration used", "| 0.9-1.0 |"):
        assert text in report
    assert "wrote" in capsys.readouterr().out


def test_map_dynamical_stays_near_the_fit(sample, tmp_path):
    """``--dynamical``: the fit plus the tilt search, which moves each
    pixel by at most its restarts' 10° and its grid's reach (4° about each
    of two axes), and keeps the phases."""
    runs = {}
    for flags in ([], ["--dynamical"]):
        out = tmp_path / f"result{len(flags)}"
        args = ["map", str(sample), "--model", "cu_cu2o", "--out", str(out)]
        assert main(args + flags) == 0
        runs[len(flags)] = hs.load(out / "result.zspy").to_crystal_map()
    assert np.array_equal(runs[0].phase_id, runs[1].phase_id)
    moved = _angles(runs[0], runs[1])
    assert np.all(moved < 10 + 4 * np.sqrt(2) + 0.5)
    assert moved.max() > 0  # it did search


def test_map_refuses_to_overwrite_without_the_flag(sample, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    args = ["map", str(sample), "--model", "cu", "--out", str(out)]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_an_interrupted_map_leaves_no_output(sample, tmp_path, monkeypatch):
    import pyxem_transformer.io.outputs as outputs

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "write_ctf", broken)
    out = tmp_path / "never"
    with pytest.raises(KeyboardInterrupt):
        main(["map", str(sample), "--model", "cu", "--out", str(out)])
    assert list(tmp_path.iterdir()) == []


def test_bad_files_and_models_get_errors_that_say_why(sample, tmp_path, capsys):
    image = tmp_path / "image.hspy"
    hs.signals.Signal2D(np.zeros((16, 16))).save(image)
    uncalibrated = tmp_path / "raw.hspy"
    hs.signals.Signal2D(np.zeros((2, 2, 16, 16))).save(uncalibrated)
    cases = [
        (str(image), "cu", "not a 4D diffraction dataset"),
        (str(uncalibrated), "cu", "--calibration"),
        (str(tmp_path / "missing.hspy"), "cu", "does not exist"),
        (str(sample), "no_such_model", "cu_cu2o"),
    ]
    for data, model, message in cases:
        out = tmp_path / "out"
        assert main(["map", data, "--model", model, "--out", str(out)]) == 2
        assert message in capsys.readouterr().err, data
        assert not out.exists()


def test_the_command_prints_no_third_party_deprecation_noise(sample, tmp_path):
    out = tmp_path / "quiet"
    run = subprocess.run(
        [sys.executable, "-m", "pyxem_transformer_cli", "map", str(sample)]
        + ["--model", "cu", "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote" in run.stdout and (out / "report.md").exists()
    assert "Warning" not in run.stderr, run.stderr
