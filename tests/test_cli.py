import hyperspy.api as hs
import numpy as np
from orix import io

from pyxem_transformer.cli import main


def test_simulate_writes_signal_and_truth(tmp_path, capsys):
    out = tmp_path / "sample.zspy"
    status = main(
        [
            "simulate",
            "--phase",
            "cu",
            "--phase",
            "cu2o",
            "--scan",
            "3",
            "4",
            "--detector",
            "64",
            "--dose",
            "1000",
            "--grains",
            "3",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    s = hs.load(out)
    assert s.data.shape == (3, 4, 64, 64)
    assert s.axes_manager.signal_axes[0].units == r"$\AA^{-1}$"
    truth = io.load(tmp_path / "sample_truth.h5")
    assert truth.shape == (3, 4)
    assert truth.phases.names == ["Cu", "Cu2O"]
    assert np.all(s.data == np.round(s.data))
    assert "wrote" in capsys.readouterr().out


def test_simulate_reports_bad_input(tmp_path, capsys):
    assert main(["simulate", "--phase", "xx", "--out", str(tmp_path / "a.zspy")]) == 2
    assert "Known phases" in capsys.readouterr().err
    assert main(["simulate", "--out", str(tmp_path / "a.npy")]) == 2
    assert main(["simulate", "--grains", "0", "--out", str(tmp_path / "a.hspy")]) == 2
    assert "n_grains" in capsys.readouterr().err


def test_train_from_a_cif_file(tmp_path, capsys):
    from diffpy.structure import Structure

    import pyxem_transformer as pxt

    cif = tmp_path / "Al.cif"
    Structure(pxt.phases.al().structure).write(str(cif), "cif")
    out = tmp_path / "al.pt"
    status = main(
        ["train", "--phase", str(cif), "--out", str(out), "--n", "200", "--epochs", "1"]
    )
    assert status == 0
    model = pxt.load_model(out)
    assert len(model.phases) == 1
    # diffpy writes P1 CIFs: the true symmetry is detected and used.
    assert model.phases[0].point_group.name == "m-3m"
    assert model.phases[0].space_group.number == 225
    captured = capsys.readouterr()
    assert "declares space group P1" in captured.err
    assert "point group m-3m; training over its 24 proper" in captured.out
    assert main(["train", "--phase", "nope", "--out", str(out)]) == 2
    assert main(["train", "--phase", str(tmp_path / "x.cif"), "--out", str(out)]) == 2


def test_demo_writes_figure_and_report(tmp_path, capsys):
    import json

    out = tmp_path / "demo"
    status = main(["demo", "--out", str(out), "--scan", "12", "--seed", "3"])
    assert status == 0
    assert (out / "demo.png").stat().st_size > 10_000
    report = json.loads((out / "report.json").read_text())
    ours, tm = report["rows"]
    assert ours["method"] == "transformer" and tm["method"] == "template matching"
    for row in (ours, tm):
        assert row["patterns_per_second"] > 0
        assert 0 <= row["fraction_under_2"] <= row["fraction_under_5"] <= 1
    # Sane bounds only (a 12x12 noisy map): both methods index most pixels.
    assert ours["phase_accuracy"] > 0.9 and ours["fraction_under_5"] > 0.5
    assert "| transformer |" in (out / "report.md").read_text()
    assert "demo.png" in capsys.readouterr().out
