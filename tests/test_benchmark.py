import json

import numpy as np

from pyxem_transformer import data, phases
from pyxem_transformer.benchmark import run_template_matching, run_transformer
from pyxem_transformer.cli import main


def test_both_methods_are_timed_and_scored_on_the_same_data(tiny_model):
    s, truth = data.simulated_grains(
        [phases.cu(), phases.cu2o()], scan_shape=(4, 4), n_grains=3, seed=2
    )
    ours = run_transformer(s, truth, tiny_model)
    tm = run_template_matching(s, truth, max_excitation_error=0.1, step=2.0)
    for result in (ours, tm):
        assert result.patterns_per_second > 0
        assert result.xmap.shape == truth.shape
        assert 0 <= result.accuracy.phase_accuracy <= 1
        row = result.row()
        assert json.loads(json.dumps(row))["method"] == result.name
    assert "library step 2.0" in tm.settings and "n_best 2" in tm.settings
    # Template matching with its best settings gets the phases right here.
    assert tm.accuracy.phase_accuracy > 0.8
    assert ours.peak_memory_mb is not None


def test_benchmark_command_writes_reports(tmp_path, tiny_model, capsys):
    model_path = tmp_path / "m.pt"
    tiny_model.save(model_path)
    out = tmp_path / "report"
    status = main(
        [
            "benchmark",
            "--model",
            str(model_path),
            "--phase",
            "cu",
            "--phase",
            "cu2o",
            "--scan",
            "4",
            "--grains",
            "3",
            "--library-step",
            "2",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert [r["method"] for r in report["rows"]] == ["transformer", "template matching"]
    assert np.isfinite(report["rows"][0]["patterns_per_second"])
    assert "| transformer |" in (out / "report.md").read_text()
