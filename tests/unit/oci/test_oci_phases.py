"""benchmarks/oci_phases.py wraps the builder's stages by name: a rename must fail here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parents[3]


def test_the_phase_wrapper_finds_every_stage_it_times(tmp_path: Path) -> None:
    out = tmp_path / "phases.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT_DIR / "benchmarks" / "oci_phases.py"), str(out), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "CPU, whole command" in json.loads(out.read_text())
