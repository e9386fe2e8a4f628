"""The command line: help for every verb, JSON output, one-line errors with exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from interforge.cli.main import build_parser, main

VENV_BIN = Path(sys.executable).parent


def _verbs():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb")
    return sub.choices


def test_every_verb_and_action_has_help(capsys):
    for name, verb_parser in _verbs().items():
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        assert exit_.value.code == 0
        assert "usage: interforge " + name in capsys.readouterr().out
        for action in verb_parser._actions:
            if getattr(action, "choices", None) and isinstance(action.choices, dict):
                for sub_name in action.choices:
                    with pytest.raises(SystemExit) as exit_:
                        main([name, sub_name, "--help"])
                    assert exit_.value.code == 0
                    out = capsys.readouterr().out
                    assert "--json" in out and "--verbose" in out


def test_console_script_runs():
    out = subprocess.run([str(VENV_BIN / "interforge"), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("interforge ")


def test_bulk_list_json_has_the_named_keys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["bulk", "list", "--json", "phases.json"]) == 0
    rows = json.loads((tmp_path / "phases.json").read_text())["phases"]
    assert len(rows) == 8
    for row in rows:
        assert {"name", "formula", "spacegroup_number", "source", "status"} <= set(row)
    assert (tmp_path / "interforge.log").exists()


def test_bulk_build_ordered_supercell(tmp_path):
    out = tmp_path / "alpha.vasp"
    assert main(["bulk", "build", "alpha-Li2ZrCl6", "--ordered", "--supercell", "1", "1", "2", "-o", str(out),
                 "--workdir", str(tmp_path), "--json", str(tmp_path / "r.json")]) == 0
    from ase.io import read

    atoms = read(out)
    assert atoms.get_chemical_formula() == "Cl36Li12Zr6"
    assert json.loads((tmp_path / "r.json").read_text())["ordering"]["rank"] == 0


def test_init_writes_a_file_that_loads(tmp_path):
    path = tmp_path / "p.toml"
    assert main(["init", str(path), "--workdir", str(tmp_path)]) == 0
    from interforge.config import load_config

    assert load_config(path).nep.neuron == 50
    assert main(["init", str(path), "--workdir", str(tmp_path)]) == 2  # refuses to overwrite


def _labelled_file(path: Path, with_energy: bool = True) -> Path:
    frames = []
    for seed in range(4):
        a = bulk("Cu", cubic=True)
        a.rattle(0.05, seed=seed)
        if with_energy:
            a.calc = EMT()
            a.get_potential_energy(), a.get_forces(), a.get_stress()
        frames.append(a)
    from ase.io import write

    write(path, frames, format="extxyz")
    return path


def test_data_import_export_stats(tmp_path):
    db = str(tmp_path / "s.db")
    src = _labelled_file(tmp_path / "in.xyz")
    common = ["--workdir", str(tmp_path)]
    assert main(["data", "import", str(src), "--db", db, "--json", str(tmp_path / "i.json"), *common]) == 0
    assert json.loads((tmp_path / "i.json").read_text())["added"] == 4
    assert main(["data", "export", "--db", db, "--out", str(tmp_path / "nep"), "--test-fraction", "0.5", *common]) == 0
    assert (tmp_path / "nep" / "train.xyz").exists()
    assert main(["data", "stats", "--db", db, "--json", str(tmp_path / "s.json"), *common]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["n_ok"] == 4


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["bulk", "build", "unobtainium", "-o", "x.cif"], "unknown phase 'unobtainium'"),
        (["data", "import", "missing.xyz", "--db", "s.db"], "file not found: missing.xyz"),
        (["data", "import", "malformed.xyz", "--db", "s.db"], "cannot read malformed.xyz"),
        (["data", "import", "noenergy.xyz", "--db", "s.db"], "frame 0 has no energy"),
        (["data", "stats", "--config", "typo.toml"], "unknown key 'nep.nueron'"),
        (["bulk", "build", "alpha", "-o", "alpha.xyz"], "partial occupancies"),
        (["data", "export", "--db", "missing.db", "--out", "o"], "no such store: missing.db"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "malformed.xyz").write_text("2\nLattice=\"1 0 0 0 1 0 0 0 1\"\nCu 0 0 x\nCu\n")
    _labelled_file(tmp_path / "noenergy.xyz", with_energy=False)
    (tmp_path / "typo.toml").write_text("[nep]\nnueron = 10\n")
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("interforge: error: ") and needle in err[0], err
    assert not (tmp_path / "alpha.xyz").exists()
