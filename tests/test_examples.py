"""The example scripts run (quick mode) and write the figures the docs show."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quick_start_writes_its_figure(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "quick_start.py"),
            "--quick",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "median misorientation" in run.stdout
    assert (tmp_path / "quick_start.png").stat().st_size > 5_000
