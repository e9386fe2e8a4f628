"""The learning loop survives SIGKILL at any step: the final store equals an uninterrupted run's."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interforge.data import LabelStore

CONFIG = Path(__file__).parent / "data" / "active" / "tiny.toml"
CLI = [sys.executable, "-m", "interforge.cli.main"]


def _learn(workdir: Path, kill_when=None, timeout: float = 900.0) -> int:
    """Run `interforge learn`; if ``kill_when(workdir)`` becomes true, SIGKILL the process. Returns its exit code."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [*CLI, "learn", "--config", str(CONFIG), "--workdir", str(workdir), "--no-validate"]
    with open(workdir.parent / f"{workdir.name}.log", "a") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        t0 = time.time()
        while proc.poll() is None:
            if kill_when is not None and kill_when(workdir):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return proc.returncode
            if time.time() - t0 > timeout:
                proc.kill()
                raise AssertionError(f"learn did not finish in {timeout} s")
            time.sleep(0.05)
    return proc.returncode


def _manifest_steps(path: Path) -> list[str]:
    try:
        return json.loads(path.read_text())["steps_done"]
    except (OSError, ValueError, KeyError):
        return []


def _store_content(workdir: Path) -> list[tuple]:
    store = LabelStore(workdir / "labels.db")
    rows = [(r.struct_hash, r.stage, r.iteration, r.status, round(r.get("energy", float("nan")), 6))
            for r in store.rows()]
    return sorted(rows)


# Kill points, in the order a run reaches them: inside seed labelling, inside committee training,
# inside exploration MD, inside active labelling of iteration 0.
KILL_POINTS = {
    "seed labelling": lambda w: "select" in _manifest_steps(w / "seed" / "manifest.json"),
    "training": lambda w: (w / "iterations" / "000" / "committee").is_dir(),
    "exploration": lambda w: "evaluate" in _manifest_steps(w / "iterations" / "000" / "manifest.json"),
    "active labelling": lambda w: "select" in _manifest_steps(w / "iterations" / "000" / "manifest.json"),
}


@pytest.mark.slow
def test_killed_at_every_step_the_store_matches_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    assert _learn(reference) == 0
    expected = _store_content(reference)
    assert len(expected) > 12  # seed labels plus active-learning labels

    resumed = tmp_path / "resumed"
    for name, condition in KILL_POINTS.items():
        code = _learn(resumed, kill_when=condition)
        assert code == -signal.SIGKILL, f"the run finished before the kill point '{name}'"
    assert _learn(resumed) == 0
    assert _store_content(resumed) == expected
    manifest = json.loads((resumed / "iterations" / "001" / "manifest.json").read_text())
    for key in ("n_candidates", "n_selected", "n_failed", "holdout_force_rmse_meV_A"):
        assert manifest[key] is not None
