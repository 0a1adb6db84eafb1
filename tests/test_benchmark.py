import json

import numpy as np
import pytest

from pyxem_transformer import data, phases
from pyxem_transformer.cli import main
from pyxem_transformer.evaluation.benchmark import (
    run_template_matching,
    run_transformer,
)
from pyxem_transformer.evaluation.benchmark_suite import CASES, run_case


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
    n_tokens = tiny_model.token_settings.n_tokens
    assert 3 <= ours.stages["tokens_per_pattern"] <= n_tokens


def test_quick_benchmark_suite_smoke(tmp_path, capsys):
    out = tmp_path / "report"
    status = main(["benchmark", "--quick", "--scan", "8", "--out", str(out)])
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    cases = {r["case"] for r in report["rows"]}
    assert cases == {"cu-free", "cu_cu2o-3000"}
    for row in report["rows"]:
        assert np.isfinite(row["patterns_per_second"]) and row["speed_up"] > 0
        assert 0 <= row["fraction_under_2"] <= row["fraction_under_5"] <= 1
        # Sane bounds only: both methods index most of a clean map.
        if row["case"] == "cu-free":
            assert row["fraction_under_5"] > 0.6 and row["phase_accuracy"] > 0.9
    text = (out / "report.md").read_text()
    assert "| cu-free | transformer |" in text and "template matching" in text
    assert (out / "cu-free.png").exists()
    assert main(["benchmark", "--list"]) == 0
    assert "ti-300" in capsys.readouterr().out
    assert main(["benchmark", "--cases", "nope", "--out", str(out)]) == 2


def test_repeated_runs_keep_each_methods_median_time(tmp_path):
    out = tmp_path / "report"
    args = ["benchmark", "--cases", "cu-free", "--scan", "4", "--out", str(out)]
    assert main([*args, "--repeats", "2", "--library-step", "3", "5"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["repeats"] == 2
    rows = {r["method"]: r for r in report["rows"]}
    for method in ("transformer", "template matching, 3° library"):
        each = rows[method]["seconds_each"]
        assert len(each) == 2 and rows[method]["seconds"] == np.median(each)
        assert np.isclose(rows[method]["patterns_per_second"] * np.median(each), 16)
    # Further library steps run once.
    assert len(rows["template matching, 5° library"]["seconds_each"]) == 1
    assert "median of 2 interleaved runs" in (out / "report.md").read_text()
    assert main([*args, "--repeats", "0"]) == 2
    with pytest.raises(ValueError, match="repeats"):
        run_case(CASES["cu-free"], scan=2, repeats=0)
