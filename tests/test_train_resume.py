"""``train`` resumes: members trained from the same inputs are skipped, and a member killed mid-training
continues from its last checkpoint (neppo) to the model an uninterrupted run writes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ase.io import read, write

from interforge.config.nep import NepSection
from interforge.nep import NeppoBackend, train_committee
from interforge.nep.committee import split_train_test

DATA = Path(__file__).parent / "data" / "nep" / "teacher_set.extxyz"


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """Ten labelled Li-Zr-Cl-O structures (eight train, two test): a training step takes ~0.1 s."""
    frames = read(DATA, ":")
    train, test = split_train_test(frames, 0.2)
    path = tmp_path_factory.mktemp("data") / "small.xyz"
    write(path, train[::6][:8] + test[:2], format="extxyz")
    return path


def test_finished_members_are_skipped(small_set, tmp_path, monkeypatch):
    # workers=1: members train in this process, where the monkeypatch below can see them
    settings = NepSection(preset="small", test_fraction=0.2, generation=6, output_interval=3, workers=1)
    first = train_committee(str(small_set), tmp_path, settings, committee=2)
    stamps = [os.stat(Path(m.nep_path)).st_mtime_ns for m in first.members]

    def no_training(*args, **kwargs):
        raise AssertionError("a finished member was trained again")

    monkeypatch.setattr(NeppoBackend, "train", no_training)
    again = train_committee(str(small_set), tmp_path, settings, committee=2)
    assert [m.nep_path for m in again.members] == [m.nep_path for m in first.members]
    assert [m.rmse_test for m in again.members] == [m.rmse_test for m in first.members]
    assert [os.stat(Path(m.nep_path)).st_mtime_ns for m in again.members] == stamps
    # other inputs (another number of steps) are not "the same member": it is trained again
    with pytest.raises(AssertionError, match="trained again"):
        train_committee(str(small_set), tmp_path, settings.model_copy(update={"generation": 9}), committee=2)


def _train_cmd(data, out, cfg):
    return [sys.executable, "-m", "interforge.cli.main", "train", "--db", str(data), "--out", str(out),
            "--committee", "2", "--preset", "small", "--generation", "40", "--config", str(cfg),
            "--workdir", str(out.parent), "--json", str(out.parent / "t.json")]


@pytest.mark.slow
def test_cli_train_resumes_after_kill_9(small_set, tmp_path):
    cfg = tmp_path / "p.toml"
    # workers = 1: members one after another, so the kill falls inside member 1 with member 0 finished
    cfg.write_text("[nep]\noutput_interval = 5\ntest_fraction = 0.2\nworkers = 1\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    cmd = _train_cmd(small_set, out, cfg)
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = out / "member_1" / "run" / "checkpoint.pt"  # member 0 is finished once member 1 checkpoints
    t0 = time.time()
    while not ckpt.exists() and proc.poll() is None and time.time() - t0 < 300:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert (out / "member_0" / "done.json").is_file() and not (out / "member_1" / "done.json").exists()
    done0 = (out / "member_0" / "done.json").stat().st_mtime_ns

    rc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    assert (out / "member_0" / "done.json").stat().st_mtime_ns == done0  # skipped, not retrained
    assert "member 0: already trained" in rc.stderr and "resuming from step" in rc.stderr
    assert not ckpt.exists()
    res = json.loads((tmp_path / "t.json").read_text())
    assert [Path(p).is_file() for p in res["nep"]] == [True, True]
    steps = [row["step"] for row in json.loads((out / "member_1" / "done.json").read_text())["result"]["history"]]
    assert steps == list(range(5, 41, 5))  # one report per 5 steps, none twice, none missing

    # the resumed member is the member an uninterrupted run trains
    ref = tmp_path / "ref"
    rc = subprocess.run(_train_cmd(small_set, ref, cfg), cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    for i in (0, 1):
        assert (out / f"member_{i}" / "nep.txt").read_text() == (ref / f"member_{i}" / "nep.txt").read_text()
    from interforge.nep.backends import parse_loss_out

    assert [r["step"] for r in parse_loss_out(out / "member_1" / "run" / "loss.out")] == list(range(5, 41, 5))
