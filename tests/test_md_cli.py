"""`interforge md` end to end (NEP fixture via interforge.nep, GPUMD input writing without gpumd)."""

import json
import shutil

import pytest
from ase.build import bulk
from ase.io import write

from interforge.cli.main import main
from interforge.trajectory import TrajectoryReader


@pytest.fixture
def si(tmp_path):
    path = tmp_path / "si.xyz"
    write(path, bulk("Si", "diamond", a=5.43, cubic=True))
    return path


def test_cli_md_nep_model(tmp_path, si, nep_fixture_dir):
    model = nep_fixture_dir / "Si_2022_NEP4_5body.txt"
    if not model.is_file():
        pytest.skip("Si NEP fixture missing")
    out = tmp_path / "run"
    rc = main(["md", str(si), "--model", str(model), "--ensemble", "npt", "--temperature", "300", "--steps", "40", "--timestep", "2",
               "--out", str(out), "--json", str(tmp_path / "r.json"), "--seed", "1", "--workdir", str(tmp_path)])
    assert rc == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["steps_done"] == 40 and r["stopped_by"] is None
    assert 30 < r["mean_temperature_K"] < 600 and 150 < r["mean_volume_A3"] < 170
    assert TrajectoryReader(out / "trajectory.h5").n_frames == 11


def test_cli_md_gpumd_without_executable(tmp_path, si, monkeypatch):
    if shutil.which("gpumd"):
        pytest.skip("gpumd is installed here")
    model = tmp_path / "nep.txt"
    model.write_text("nep4 1 Si\n")
    rc = main(["md", str(si), "--model", str(model), "--engine", "gpumd", "--ensemble", "nvt", "--temperature", "300",
               "--steps", "100", "--out", str(tmp_path / "g"), "--workdir", str(tmp_path)])
    assert rc == 2  # one-line error: gpumd not on PATH
    assert (tmp_path / "g" / "gpumd" / "run.in").read_text().splitlines()[-1] == "run 100"
    assert (tmp_path / "g" / "gpumd" / "model.xyz").is_file()


def test_cli_md_missing_structure(tmp_path):
    rc = main(["md", str(tmp_path / "none.xyz"), "--model", "x", "--temperature", "300", "--steps", "1",
               "--out", str(tmp_path), "--workdir", str(tmp_path)])
    assert rc == 2


def test_cli_md_committee_logs_deviation(tmp_path, si, nep_fixture_dir):
    """Two identical members: the committee deviation is exactly zero on every frame."""
    model = nep_fixture_dir / "Si_2022_NEP4_5body.txt"
    if not model.is_file():
        pytest.skip("Si NEP fixture missing")
    out = tmp_path / "c"
    rc = main(["md", str(si), "--model", str(model), str(model), "--ensemble", "nvt", "--temperature", "500",
               "--steps", "10", "--out", str(out), "--seed", "2", "--workdir", str(tmp_path)])
    assert rc == 0
    dev = TrajectoryReader(out / "trajectory.h5").observable("max_force_deviation")
    assert len(dev) == 11 and abs(dev).max() < 1e-6


def test_run_gpumd_with_stand_in_executable(tmp_path, si, monkeypatch):
    """A stand-in `gpumd` on PATH checks it runs in OUT/gpumd with run.in, and writes documented outputs."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "gpumd"
    exe.write_text(
        "#!/bin/sh\n"
        "test -f run.in && test -f model.xyz || exit 3\n"
        "printf '300 0.1 -40 0 0 0 0 0 0 5.43 0 0 0 5.43 0 0 0 5.43\\n310 0.1 -40 0 0 0 0 0 0 5.43 0 0 0 5.43 0 0 0 5.43\\n'"
        " > thermo.out\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")
    model = tmp_path / "nep.txt"
    model.write_text("nep4 1 Si\n")
    rc = main(["md", str(si), "--model", str(model), "--engine", "gpumd", "--ensemble", "nvt", "--temperature", "300",
               "--steps", "20", "--out", str(tmp_path / "g"), "--json", str(tmp_path / "g.json"),
               "--workdir", str(tmp_path)])
    assert rc == 0
    r = json.loads((tmp_path / "g.json").read_text())
    assert r["engine"] == "gpumd" and r["steps_done"] == 20 and r["stopped_by"] is None
    assert r["mean_temperature_K"] == pytest.approx(305.0) and r["mean_volume_A3"] == pytest.approx(5.43**3)


def test_cli_md_stopped_by_a_guard_exits_4(tmp_path, nep_fixture_dir, capsys):
    """A run a guard stopped did not do what was asked: exit code 4 and the reason on one line."""
    model = nep_fixture_dir / "Si_2022_NEP4_5body.txt"
    if not model.is_file():
        pytest.skip("Si NEP fixture missing")
    hot = tmp_path / "si.xyz"
    write(hot, bulk("Si", "diamond", a=5.43, cubic=True))
    cfg = tmp_path / "p.toml"
    cfg.write_text("[md]\nmax_temperature_factor = 1.01\n")  # the first thermal fluctuation trips it
    rc = main(["md", str(hot), "--model", str(model), "--ensemble", "nvt", "--temperature", "300", "--steps", "2000",
               "--out", str(tmp_path / "run"), "--json", str(tmp_path / "r.json"), "--seed", "1", "--config", str(cfg),
               "--workdir", str(tmp_path)])
    assert rc == 4
    assert json.loads((tmp_path / "r.json").read_text())["stopped_by"] == "temperature"
    err = [line for line in capsys.readouterr().err.splitlines() if "stopped by" in line]
    assert len(err) == 1 and "guard temperature" in err[0]
