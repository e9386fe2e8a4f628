"""Hostile input, verb by verb: every case must end with exit code 2 (or the documented code), one line on
stderr naming the input, no traceback, no output left behind and the user's files byte-identical.

The cases are generated from tables (bad files x verbs that read them, bad values x options, unwritable
paths x options that write). They run in-process through ``interforge.cli.main.main`` (fast); a handful run
as a real subprocess for the exit status and crashes. Every case fails before any teacher, MD or training
starts, so the whole file runs in well under two minutes. The label store's own rules (foreign, corrupt,
missing databases) are tested in depth by the store's tests; a few cases here check them end to end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from interforge.cli.main import main

CASE_TIMEOUT_S = 60
VENV_BIN = Path(sys.executable).parent
DATA = Path(__file__).parent / "data" / "hostile"


# -- the input files a user might hand over ------------------------------------------------------------------


def _si() -> Atoms:
    return bulk("Si", "diamond", a=5.43, cubic=True)


def _write_inputs(w: Path) -> None:
    """Good and bad inputs in ``w``: structures, models, trajectories, results, candidates, configs."""
    write(w / "si.xyz", _si(), format="extxyz")
    # a tiny NEP4 that parses (2 + 2 descriptors, one neuron: 7 ANN + 8 descriptor + 4 scaler values)
    (w / "nep.txt").write_text("nep4 1 Si\ncutoff 5 4 20 20\nn_max 1 1\nbasis_size 1 1\nl_max 1\nANN 1 0\n"
                               + "0.1\n" * 19)
    (w / "nep_broken.txt").write_text("nep4 1 Si\ncut 5 4\n")
    (w / "empty.xyz").write_bytes(b"")
    (w / "empty.txt").write_bytes(b"")
    (w / "empty.json").write_bytes(b"")
    (w / "empty.toml").write_bytes(b"")
    blob = bytes(range(256)) * 8
    for name in ("binary.xyz", "binary.txt", "binary.json", "binary.toml", "binary.h5"):
        (w / name).write_bytes(blob)
    lines = (w / "si.xyz").read_text().splitlines(keepends=True)
    (w / "truncated.xyz").write_text("".join(lines[:5]))  # the header says 8 atoms, 3 follow
    (w / "huge.xyz").write_text("1000000000\n" + "".join(lines[1:]))  # 10^9 atoms declared, 8 given
    (w / "notxyz.xyz").write_text("hello world\nthis is not a structure\n")
    bad = _si()
    bad.positions[3] = [np.nan, 0.0, 0.0]
    write(w / "nan.xyz", bad, format="extxyz")
    bad = _si()
    bad.positions[5] = [np.inf, 0.0, 0.0]
    write(w / "inf.xyz", bad, format="extxyz")
    bad = _si()
    a, b, _ = bad.cell[:]
    bad.set_cell([a, b, a + b], scale_atoms=False)  # third vector in the plane of the first two: volume 0
    write(w / "singular.xyz", bad, format="extxyz")
    bad = _si()
    bad.positions[1] = bad.positions[0] + [0.3, 0.0, 0.0]  # a 0.3 Å Si-Si contact
    write(w / "overlap.xyz", bad, format="extxyz")
    h2 = Atoms("H2", positions=[[5, 5, 5], [5.4, 5, 5]], cell=[10, 10, 10], pbc=True)  # 0.4 Å: a guard trips
    write(w / "h2.xyz", h2, format="extxyz")
    # a trajectory that carries its frame times (0.1 ps apart), and one with a NaN position
    rng = np.random.default_rng(0)
    frames = []
    for k in range(4):
        f = bulk("LiCl", "rocksalt", a=5.14, cubic=True)
        f.positions += rng.normal(0, 0.05, f.positions.shape)
        f.info["time_ps"] = 0.1 * k
        frames.append(f)
    write(w / "traj.xyz", frames, format="extxyz")
    frames[2].positions[0] = [np.nan, 0, 0]
    write(w / "traj_nan.xyz", frames, format="extxyz")
    # results of `analyze`, candidates of `interfaces search`
    (w / "results_list.json").write_text("[1, 2, 3]\n")
    (w / "truncated.json").write_text('{"diffusion": {"Li": {"D_cm2_s": 1e-6')
    (w / "results_nokeys.json").write_text('{"species": "Li"}\n')
    (w / "candidates.json").write_bytes((DATA / "candidates.json").read_bytes())
    (w / "cands_empty.json").write_text("[]\n")
    (w / "cands_bad.json").write_text('[{"id": "x"}]\n')
    # databases given as label input: a text file, a user's own SQLite file (must stay untouched), an empty one
    (w / "text.db").write_text("not a database\n")
    con = sqlite3.connect(w / "foreign.db")
    con.execute("CREATE TABLE mine (x INTEGER)")
    con.execute("INSERT INTO mine VALUES (42)")
    con.commit()
    con.close()
    (w / "empty.db").write_bytes(b"")
    # project files
    configs = {
        "neg_T.toml": "[md]\ntemperatures_K = [-300.0]\n",
        "zero_T.toml": "[sampling]\ntemperatures_K = [0.0, 300.0]\n",
        "nan.toml": "[md]\ntimestep_fs = nan\n",
        "inf_pressure.toml": "[md]\npressure_bar = inf\n",
        "bogus_teacher.toml": "[teacher]\nname = \"bogus\"\n",
        "wrong_type.toml": "[md]\ntimestep_fs = \"fast\"\n",
        "unknown_key.toml": "[nep]\nnueron = 10\n",
        "bad_syntax.toml": "[md\ntimestep_fs = 1\n",
        "neg_tau.toml": "[md]\nthermostat_tau_fs = -100.0\n",
        "nan_list.toml": "[active]\nnpt_pressures_bar = [100.0, nan]\n",
        "db_below_file.toml": "[project]\nworkdir = \".\"\n[data]\ndb = \"afile.txt/labels.db\"\n",
        "workdir_below_file.toml": "[project]\nworkdir = \"afile.txt/work\"\n",
        "nep_teacher.toml": "[teacher]\nname = \"nep\"\n",
        "huge_search.toml": "[interfaces]\nmax_area = 1e300\n",
        "huge_spec.toml": ("[[structures.interfaces]]\nsubstrate = \"c-ZrO2\"\nfilm = \"ideal-Li2ZrCl6\"\n"
                           "max_miller = 50\n"),
    }
    for name, text in configs.items():
        (w / name).write_text(text)
    labelled = _si()
    labelled.positions[2] = [np.nan, 0.0, 0.0]
    labelled.calc = SinglePointCalculator(labelled, energy=-40.0, forces=np.zeros((len(labelled), 3)))
    write(w / "nan_labelled.xyz", labelled, format="extxyz")
    good = _si()
    good.calc = SinglePointCalculator(good, energy=-40.0, forces=np.zeros((len(good), 3)))
    write(w / "labelled.xyz", good, format="extxyz")
    (w / "POSCAR").write_text("Si\n1.0\n5 0 0\n0 5 0\n0 0 5\nSi\n1000000000\nDirect\n0 0 0\n0.5 0.5 0.5\n")
    (w / "XDATCAR").write_text("Li\n1.0\n5 0 0\n0 5 0\n0 0 5\nLi\n1000000000\nDirect configuration= 1\n0 0 0\n")
    (w / "huge.dump").write_text("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1000000000\nITEM: BOX BOUNDS pp pp pp\n"
                                 "0 5\n0 5\n0 5\nITEM: ATOMS id type x y z\n1 1 0 0 0\n")
    (w / "zero.xyz").write_text("0\n\n")
    (w / "negative.xyz").write_text("-5\n\nSi 0 0 0\n")
    (w / "nan_cell.xyz").write_text('1\nLattice="nan 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
                                    "Si 0 0 0\n")
    result = {"species": "Li", "temperature_K": 600.0, "conductivity": {"n_per_A3": 0.01},
              "diffusion": {"Li": {"D_cm2_s": 1e-6, "D_err_cm2_s": 1e-7}}}
    (w / "r600.json").write_text(json.dumps(result))
    (w / "r600_again.json").write_text(json.dumps(result))
    (w / "afile.txt").write_text("a regular file; nothing can be created below it\n")
    (w / "adir").mkdir()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("hostile-inputs")
    _write_inputs(w)
    return w


# -- the cases -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """``argv`` (shell syntax, run in a folder holding the inputs); the exit ``code``; ``needle``: text the
    one-line error must contain (the input it names)."""

    id: str
    argv: str
    needle: str
    code: int = 2


BAD_STRUCTURES = {  # file -> what the error names
    "missing.xyz": "missing.xyz",
    "empty.xyz": "empty.xyz",
    "binary.xyz": "binary",
    "truncated.xyz": "truncated",
    "huge.xyz": "1000000000",
    "notxyz.xyz": "notxyz.xyz",
    "nan.xyz": "NaN",
    "inf.xyz": "inf",
    "singular.xyz": "singular",
    "overlap.xyz": "apart",
    "adir": "directory",
    "POSCAR": "1000000000",
    "zero.xyz": "no atoms",
    "negative.xyz": "-5 atoms",
    "nan_cell.xyz": "NaN",
}

MD = "md si.xyz --model nep.txt --ensemble nvt --temperature 300 --steps 10 --out mdout"
LABEL = "label {} --db labels.db --no-progress"
SEARCH = "interfaces search --substrate {} --film ideal-Li2ZrCl6 --lattices experimental --out ifout"
BUILD = "interfaces build --candidates candidates.json --lattices experimental --out ibout"
RANK = "interfaces rank --candidates candidates.json --lattices experimental --calculator ase.calculators.emt:EMT --out irout"
ANALYZE = "analyze traj.xyz --out anout --no-figures --no-cache"
TRAIN = "train --db si.xyz --out trout --preset small"


def _cases() -> list[Case]:
    cases: list[Case] = []

    def add(id_, argv, needle, code=2):
        cases.append(Case(id_, argv, needle, code))

    # bad structure files x every verb that reads structures
    for f, needle in BAD_STRUCTURES.items():
        stem = f.split(".")[0]
        add(f"md-structure-{stem}", MD.replace("si.xyz", f), needle)
        add(f"label-input-{stem}", LABEL.format(f), needle)
        add(f"interfaces-search-substrate-{stem}", SEARCH.format(f), needle)
        if f not in ("nan.xyz", "inf.xyz", "singular.xyz", "overlap.xyz"):  # import takes what the store takes
            add(f"data-import-{stem}", f"data import {f} --db labels.db", needle)
    add("md-guard-min-distance-before-step-1", MD.replace("si.xyz", "h2.xyz"), "min_distance")
    add("label-input-text-db", LABEL.format("text.db"), "not an SQLite database")
    add("label-input-foreign-db", LABEL.format("foreign.db"), "not an ASE database")
    add("label-input-empty-db", LABEL.format("empty.db"), "empty")

    # bad numbers x options (zero never means "default")
    numbers = [
        (MD, "--temperature", ["-300", "0", "nan", "inf", "300 400 500"]),
        (MD.replace("nvt", "npt"), "--pressure", ["nan", "inf", "-inf"]),
        (MD, "--steps", ["-1", "0", "abc", "1.5"]),
        (MD, "--timestep", ["0", "-1", "nan", "fast"]),
        (MD, "--dump-interval", ["0", "-5"]),
        (MD, "--thermo-interval", ["0"]),
        (MD, "--seed", ["-1"]),
        ("bulk order alpha-Li2ZrCl6", "--top", ["-3", "0"]),
        ("bulk order alpha-Li2ZrCl6", "--rerank", ["-1"]),
        ("bulk order alpha-Li2ZrCl6", "--fmax", ["0", "nan"]),
        ("bulk order alpha-Li2ZrCl6", "--supercell", ["0 0 0", "-1 1 1", "300 300 300"]),
        ("bulk build alpha-Li2ZrCl6 --ordered -o out.xyz", "--supercell", ["1000 1000 1000", "0 1 1", "-1 1 1", "a b c"]),
        ("bulk build alpha-Li2ZrCl6 --ordered -o out.xyz", "--ordering-supercell", ["0 1 1", "200 200 200"]),
        (SEARCH.format("c-ZrO2"), "--max-area", ["0", "-1", "nan"]),
        (SEARCH.format("c-ZrO2"), "--max-strain", ["0", "inf"]),
        (SEARCH.format("c-ZrO2"), "--max-miller", ["0", "-1", "100"]),
        (SEARCH.format("c-ZrO2"), "--max-area", ["1e300"]),
        (SEARCH.format("c-ZrO2"), "--max-angle-strain", ["-0.1", "nan"]),
        (RANK, "--keep", ["0"]),
        (RANK, "--steps", ["0", "-1"]),
        (RANK, "--registration-grid", ["0"]),
        (BUILD, "--registration", ["nan 0", "0 inf"]),
        (BUILD, "--lateral", ["0", "-5", "nan", "1e6"]),
        (BUILD, "--atoms", ["0", "-1", "1000000000000"]),
        (BUILD, "--substrate-thickness", ["0", "-1", "1e9"]),
        (BUILD, "--film-thickness", ["0", "nan"]),
        (BUILD, "--gap", ["-1", "0", "1e300"]),
        (BUILD, "--vacuum", ["-1", "1e300"]),
        (BUILD, "--strain-partition", ["2", "-0.5"]),
        (BUILD, "--termination", ["-1"]),
        ("data export --db labels.db --out exp", "--test-fraction", ["1.5", "-0.1", "nan", "1"]),
        (LABEL.format("si.xyz"), "--workers", ["0", "-1"]),
        (LABEL.format("si.xyz"), "--iteration", ["-1"]),
        (TRAIN, "--committee", ["0", "-1"]),
        (TRAIN, "--generation", ["0"]),
        (TRAIN, "--test-fraction", ["1", "nan"]),
        (TRAIN, "--parallel", ["0"]),
        ("learn", "--max-iterations", ["0", "-1"]),
        (ANALYZE, "--dt-ps", ["-1", "0", "nan", "5"]),
        (ANALYZE, "--temperature-K", ["0", "-5", "nan"]),
        ("arrhenius results_list.json", "--T-K", ["0", "-1", "nan"]),
    ]
    for base, opt, values in numbers:
        verb = "-".join(base.split()[:2]) if base.split()[0] in ("bulk", "interfaces", "data") else base.split()[0]
        for v in values:
            argv = _replace_opt(base, opt, v) if opt in base.split() else f"{base} {opt} {v}"
            add(f"{verb}{opt}={v.replace(' ', '_')}", argv, opt)

    # unknown names
    add("bulk-build-unknown-phase", "bulk build unobtainium -o x.cif", "unobtainium")
    add("bulk-order-unknown-phase", "bulk order unobtainium", "unobtainium")
    add("interfaces-search-unknown-phase", SEARCH.format("unobtainium"), "unobtainium")
    add("interfaces-build-unknown-id", BUILD + " --id nope", "nope")
    add("label-unknown-teacher", LABEL.format("si.xyz") + " --teacher bogus", "bogus")
    add("md-unknown-teacher", MD.replace("--model nep.txt", "--teacher bogus"), "bogus")
    add("analyze-unknown-species", ANALYZE + " --species Xx", "Xx")
    add("analyze-unknown-anion", ANALYZE + " --anions Qq", "Qq")
    add("bulk-build-unknown-format", "bulk build c-ZrO2 -o out.foo", "out.foo")
    add("bulk-order-bad-calculator", "bulk order alpha-Li2ZrCl6 --calculator nocolon", "--calculator")
    add("bulk-order-rerank-without-calculator", "bulk order alpha-Li2ZrCl6 --rerank 2", "--rerank")
    add("bulk-order-calculator-not-callable", "bulk order alpha-Li2ZrCl6 --rerank 1 --calculator os:path",
        "--calculator")
    add("bulk-order-calculator-fails", "bulk order alpha-Li2ZrCl6 --rerank 1 --calculator ase.calculators.emt:EMT",
        "--calculator")
    add("md-gpumd-version-garbage", MD + " --engine gpumd --gpumd-version garbage", "--gpumd-version")
    add("md-teacher-nep-without-model", MD.replace("--model nep.txt", "--teacher nep"), "model_path")
    for teacher, needle in [("nep", "model_path"), ("vasp", "VASP_PP_PATH"), ("qe", "pseudopotentials"),
                            ("model-file", "model")]:
        add(f"label-teacher-{teacher}-not-ready", LABEL.format("si.xyz") + f" --teacher {teacher}", needle)
    add("label-teacher-model-missing", LABEL.format("si.xyz") + " --teacher model-file --model missing.pt",
        "missing.pt")
    add("train-db-without-energies", TRAIN, "no energy")
    add("analyze-foreign-sqlite", ANALYZE.replace("traj.xyz", "foreign.db"), "not an ASE database")
    add("analyze-text-db", ANALYZE.replace("traj.xyz", "text.db"), "not an SQLite database")
    for verb in ("seed", "learn", "label si.xyz --no-progress", "data import si.xyz"):
        name = verb.split()[0]
        add(f"{name}-config-db-below-a-file", f"{verb} --config db_below_file.toml", "afile.txt")
        add(f"{name}-config-workdir-below-a-file", f"{verb} --config workdir_below_file.toml", "afile.txt")
    add("seed-config-nep-teacher-without-model", "seed --config nep_teacher.toml", "model_path")
    add("interfaces-search-config-huge-area", "interfaces search --lattices experimental --config huge_search.toml",
        "max_area")
    add("seed-config-huge-interface-search", "seed --config huge_spec.toml", "max_miller")
    add("data-import-nan-positions", "data import nan_labelled.xyz --db labels.db", "NaN")
    add("arrhenius-one-temperature", "arrhenius r600.json r600_again.json", "two different temperatures")
    add("interfaces-search-relax-calculator-fails",
        "interfaces search --substrate c-ZrO2 --film c-ZrO2 --lattices teacher --calculator "
        "ase.calculators.emt:EMT --out x", "EMT")
    for opt in ("--json", "--workdir", "--config"):
        add(f"bulk-list{opt}-empty", f"bulk list {opt} ''", opt)
    add("md--out-empty", MD.replace("--out mdout", "--out ''"), "--out")
    add("label-query-on-a-structure-file", LABEL.format("si.xyz") + " --query 'bad((('", "--query")
    add("validate-model-broken-body", "validate --model nep_broken.txt", "cutoff")
    add("md-model-broken-body", MD.replace("nep.txt", "nep_broken.txt"), "cutoff")
    add("train-init-broken-body", TRAIN + " --init nep_broken.txt", "cutoff")
    add("md-structure-dev-zero", MD.replace("si.xyz", "/dev/zero"), "not a regular file")
    # label stores (the store's own rules, data.md): a typo, a user's own SQLite file, a text file
    add("data-stats-missing-store", "data stats --db missing.db", "missing.db")
    for verb in ("data stats", "data export --out exp", LABEL.format("si.xyz").replace(" --db labels.db", ""),
                 "data import labelled.xyz"):
        name = "-".join(verb.split()[:2]) if verb.startswith("data") else "label"
        add(f"{name}-foreign-sqlite-store", f"{verb} --db foreign.db", "foreign.db")
        add(f"{name}-text-store", f"{verb} --db text.db", "text.db")
    add("md--json-is-the-structure", MD + " --json si.xyz", "input of this command")
    add("analyze--json-is-the-trajectory", ANALYZE + " --json traj.xyz", "input of this command")
    add("label--json-is-the-input", LABEL.format("si.xyz") + " --json si.xyz", "input of this command")
    add("init-over-its-config", "init empty.toml --force --config empty.toml", "input of this command")
    add("bulk-list--json-name-too-long", "bulk list --json " + "x" * 300 + ".json", "longer than")
    add("md-bad-ensemble", MD.replace("nvt", "nve-ish"), "--ensemble")
    add("demo-bad-scale", "demo --scale huge --out demo-out", "--scale")
    add("unknown-verb", "frobnicate", "frobnicate")
    add("report-folder-missing", "report nowhere", "nowhere")
    add("report-folder-is-a-file", "report afile.txt", "afile.txt")
    add("report-out-below-a-file", "report adir --out afile.txt/r.html", "afile.txt")
    add("report-out-is-a-directory", "report adir --out adir", "adir")
    add("md-missing-required", "md si.xyz --model nep.txt", "required")
    add("teacher-calibrate-config-bogus-teacher", "teacher calibrate --config bogus_teacher.toml", "bogus")
    add("teacher-calibrate-workdir-below-a-file", "teacher calibrate --workdir afile.txt/w", "afile.txt")
    add("teacher-calibrate-json-is-a-directory", "teacher calibrate --json adir", "adir")

    # bad models, candidates, results, trajectories
    for f, needle in [("missing.txt", "missing.txt"), ("empty.txt", "empty"), ("binary.txt", "binary"),
                      ("si.xyz", "not a NEP")]:
        stem = f.split(".")[0]
        add(f"md-model-{stem}", MD.replace("nep.txt", f), needle)
        add(f"validate-model-{stem}", f"validate --model {f}", needle)
        add(f"train-init-{stem}", f"{TRAIN} --init {f}", needle)
    for f, needle in [("missing.json", "missing.json"), ("empty.json", "empty"), ("binary.json", "binary"),
                      ("cands_bad.json", "cands_bad.json")]:
        stem = f.split(".")[0]
        add(f"interfaces-build-candidates-{stem}", BUILD.replace("candidates.json", f), needle)
        add(f"interfaces-rank-candidates-{stem}", RANK.replace("candidates.json", f), needle)
    add("interfaces-build-no-candidates", BUILD.replace("candidates.json", "cands_empty.json"), "no candidates")
    for f, needle in [("missing.json", "missing.json"), ("empty.json", "empty"), ("binary.json", "binary"),
                      ("results_list.json", "results_list.json"), ("truncated.json", "truncated.json"),
                      ("results_nokeys.json", "results_nokeys.json")]:
        add(f"arrhenius-{f.split('.')[0]}", f"arrhenius {f} {f}", needle)
    for f, needle in [("missing.xyz", "missing.xyz"), ("empty.xyz", "empty"), ("binary.xyz", "binary"),
                      ("truncated.xyz", "truncated"), ("huge.xyz", "1000000000"), ("notxyz.xyz", "notxyz.xyz"),
                      ("traj_nan.xyz", "NaN"), ("binary.h5", "binary.h5"), ("adir", "directory"),
                      ("XDATCAR", "1000000000"), ("huge.dump", "1000000000")]:
        add(f"analyze-trajectory-{f.replace('.', '-')}", ANALYZE.replace("traj.xyz", f), needle)
    for f, needle in [("missing.xyz", "missing.xyz"), ("empty.xyz", "empty"), ("binary.xyz", "binary"),
                      ("huge.xyz", "1000000000")]:
        add(f"train-db-{f.split('.')[0]}", TRAIN.replace("si.xyz", f), needle)

    # project files x a cheap verb, and the verbs that would start expensive work
    for cfg, needle in [("neg_T.toml", "temperatures_K"), ("zero_T.toml", "temperatures_K"),
                        ("nan.toml", "timestep_fs"), ("inf_pressure.toml", "pressure_bar"),
                        ("bogus_teacher.toml", "bogus"), ("wrong_type.toml", "timestep_fs"),
                        ("unknown_key.toml", "nueron"), ("bad_syntax.toml", "bad_syntax.toml"),
                        ("binary.toml", "binary.toml"), ("missing.toml", "missing.toml"), ("adir", "directory"),
                        ("neg_tau.toml", "thermostat_tau_fs"), ("nan_list.toml", "npt_pressures_bar")]:
        add(f"config-{cfg.split('.')[0]}", f"bulk list --config {cfg}", needle)
    for verb in ("seed", "learn", f"validate --model nep.txt", LABEL.format("si.xyz"), MD):
        name = verb.split()[0]
        add(f"{name}-config-bogus-teacher", f"{verb} --config bogus_teacher.toml", "bogus")
        add(f"{name}-config-negative-T", f"{verb} --config neg_T.toml", "temperatures_K")

    # unwritable outputs: below a regular file (fails even for root), an existing directory as a file
    writers = [
        ("bulk list", "--json", "out.json"),
        ("bulk build c-ZrO2", "-o", "x.xyz"),
        ("bulk order alpha-Li2ZrCl6", "--write-dir", "w"),
        ("init", "", "p.toml"),
        (SEARCH.format("c-ZrO2"), "--out", "d"),
        (SEARCH.format("c-ZrO2"), "--json", "c.json"),
        (RANK, "--out", "d"),
        (BUILD, "--out", "d"),
        ("data import si.xyz", "--db", "l.db"),
        ("data export --db labels.db", "--out", "d"),
        (LABEL.format("si.xyz"), "--db", "l.db"),
        (TRAIN, "--out", "d"),
        ("validate --model nep.txt", "--out", "d"),
        (MD, "--out", "d"),
        (MD, "--json", "r.json"),
        (ANALYZE, "--out", "d"),
        ("arrhenius results_list.json results_list.json", "--figure", "f.png"),
        ("demo", "--out", "d"),
        ("seed", "--workdir", "w"),
        ("learn", "--workdir", "w"),
        ("bulk list", "--workdir", "w"),
    ]
    for base, opt, leaf in writers:
        verb = "-".join(base.split()[:2]) if base.split()[0] in ("bulk", "interfaces", "data") else base.split()[0]
        tail = f"{opt} afile.txt/{leaf}" if opt else f"afile.txt/{leaf}"
        argv = _replace_opt(base, opt, f"afile.txt/{leaf}") if opt and opt in base.split() else f"{base} {tail}"
        add(f"{verb}{opt or '-path'}-below-a-file", argv, "afile.txt")
    for base, opt in [("bulk list", "--json"), ("bulk build c-ZrO2", "-o"), (MD, "--json"),
                      ("arrhenius results_list.json results_list.json", "--figure")]:
        verb = base.split()[0]
        add(f"{verb}{opt}-is-a-directory", f"{base} {opt} adir", "adir")
    for base, opt in [(MD, "--out"), (ANALYZE, "--out"), (TRAIN, "--out"), ("demo", "--out")]:
        add(f"{base.split()[0]}{opt}-is-a-file", _replace_opt(base, opt, "afile.txt") if opt in base.split()
            else f"{base} {opt} afile.txt", "afile.txt")
    return cases


def _replace_opt(argv: str, opt: str, value: str) -> str:
    """``argv`` with the (single) value of ``opt`` replaced by ``value``."""
    parts = argv.split()
    i = parts.index(opt)
    parts[i + 1] = value
    return " ".join(parts)


def _argv(case: Case) -> list[str]:
    return shlex.split(case.argv)


CASES = _cases()


def test_there_are_enough_cases_across_every_verb():
    from interforge.cli.main import build_parser

    assert len(CASES) >= 100
    sub = next(a for a in build_parser()._actions if a.dest == "verb")
    verbs = set(sub.choices)
    covered = {shlex.split(c.argv)[0] for c in CASES}
    assert verbs <= covered, verbs - covered
    assert len({c.id for c in CASES}) == len(CASES)


# -- running and checking a case ----------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 (files) or 'dir' of everything under ``root``."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            snap[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            snap[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return snap


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"a hostile-input case ran past {CASE_TIMEOUT_S} s")


def _run_in_process(argv: list[str], capsys) -> tuple[int, str]:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_TIMEOUT_S)
    try:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, capsys.readouterr().err


def _check_outcome(case: Case, code: int, err: str, before: dict, after: dict) -> None:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1, f"expected one error line, got: {lines}"
    assert case.needle in errors[0], f"the error does not name {case.needle!r}: {errors[0]}"
    if case.code == 2:  # a refused input: the error line and nothing else (no log line before it)
        assert lines == errors, f"stderr is not one line: {lines}"
    noise = [ln for ln in lines if ln not in errors and not ln.startswith(("INFO:", "WARNING:", "DEBUG:"))]
    assert not noise, f"stray stderr lines: {noise}"
    assert code == case.code, f"exit code {code}, expected {case.code}: {errors[0]}"
    changed = {k for k in before if after.get(k) != before[k]}
    assert not changed, f"input files changed or removed: {sorted(changed)}"
    new = set(after) - set(before) - {"interforge.log"}
    assert not new, f"partial output left behind: {sorted(new)}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case, template, tmp_path, monkeypatch, capsys):
    import shutil

    w = tmp_path / "w"
    shutil.copytree(template, w)
    monkeypatch.chdir(w)
    monkeypatch.delenv("VASP_PP_PATH", raising=False)
    before = _snapshot(w)
    code, err = _run_in_process(_argv(case), capsys)
    _check_outcome(case, code, err, before, _snapshot(w))


# -- a few as real processes: the exit status itself, no segfault, no hang -----------------------------------

SUBPROCESS_CASES = [
    Case("npt-nan-pressure", MD.replace("nvt", "npt") + " --pressure nan", "--pressure"),
    Case("search-nan-positions", SEARCH.format("nan.xyz"), "NaN"),
    Case("search-inf-positions", SEARCH.format("inf.xyz"), "inf"),
    Case("build-huge-supercell", "bulk build alpha-Li2ZrCl6 --ordered --supercell 1000 1000 1000 -o out.xyz",
         "--supercell"),
    Case("label-huge-header", LABEL.format("huge.xyz"), "1000000000"),
    Case("md-json-below-a-file", MD + " --json afile.txt/r.json", "afile.txt"),
]


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=[c.id for c in SUBPROCESS_CASES])
def test_hostile_input_subprocess(case, template, tmp_path):
    import shutil

    w = tmp_path / "w"
    shutil.copytree(template, w)
    before = _snapshot(w)
    proc = subprocess.run([str(VENV_BIN / "interforge"), *_argv(case)], cwd=w, capture_output=True, text=True,
                          timeout=CASE_TIMEOUT_S)
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}"
    _check_outcome(case, proc.returncode, proc.stderr, before, _snapshot(w))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_read_only_directory_is_refused_before_work(template, tmp_path, monkeypatch, capsys):
    import shutil

    w = tmp_path / "w"
    shutil.copytree(template, w)
    ro = w / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.chdir(w)
    try:
        before = _snapshot(w)
        case = Case("md-out-read-only", MD.replace("--out mdout", "--out ro/run"), "ro")
        code, err = _run_in_process(_argv(case), capsys)
        _check_outcome(case, code, err, before, _snapshot(w))
    finally:
        ro.chmod(0o700)


def test_dt_ps_that_contradicts_h5md_times_is_refused(tmp_path, monkeypatch, capsys):
    """H5MD files carry their frame times: a --dt-ps that disagrees is an error, not an override."""
    from interforge.trajectory import TrajectoryWriter

    atoms = bulk("LiCl", "rocksalt", a=5.14, cubic=True)
    w = TrajectoryWriter(tmp_path / "trajectory.h5", atoms.numbers, atoms.get_masses())
    for k in range(3):
        w.append(atoms.positions + 0.01 * k, atoms.cell.array, 0.5 * k, 500 * k)
    w.close()
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    code = main(["analyze", "trajectory.h5", "--out", "an", "--dt-ps", "1.0", "--no-figures", "--no-cache"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--dt-ps" in err[0] and "0.5 ps apart" in err[0]
    assert _snapshot(tmp_path).keys() - before.keys() <= {"interforge.log"}


def test_output_files_get_the_users_umask(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); the result must get 0666 & ~umask like open() gives."""
    from interforge.fileio import atomic_write_text

    old = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "r.json", "{}\n")
        assert p.stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        q = atomic_write_text(tmp_path / "s.json", "{}\n")
        assert q.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_label_exit_code_5_when_a_structure_fails(tmp_path, monkeypatch, capsys):
    """Some labels failed: exit code 5 and the count on one stderr line (not 0, not 2)."""
    from ase.calculators.calculator import Calculator, all_changes

    from interforge.teacher import register_teacher

    class Refuses(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            if len(atoms) > 2:
                raise RuntimeError("this test teacher refuses cells of more than two atoms")
            self.results = {"energy": 0.0, "forces": np.zeros((len(atoms), 3)), "stress": np.zeros(6)}

    register_teacher("hostile-refuses", lambda section, directory: Refuses())
    small = Atoms("Si2", positions=[[0, 0, 0], [1.36, 1.36, 1.36]], cell=[[0, 2.715, 2.715], [2.715, 0, 2.715],
                                                                        [2.715, 2.715, 0]], pbc=True)
    write(tmp_path / "mixed.xyz", [small, _si()], format="extxyz")
    monkeypatch.chdir(tmp_path)
    code = main(["label", "mixed.xyz", "--db", "labels.db", "--teacher", "hostile-refuses", "--no-progress"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("interforge:")]
    assert code == 5
    assert len(err) == 1 and "1 of 2 structures failed" in err[0]
    write(tmp_path / "big.xyz", [_si()], format="extxyz")
    code = main(["label", "big.xyz", "--db", "all.db", "--teacher", "hostile-refuses", "--no-progress"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("interforge:")]
    assert code == 5
    assert len(err) == 1 and "1 of 1 structures failed" in err[0] and "all of them" in err[0]


def test_foreign_sqlite_label_input_is_untouched(template, tmp_path, monkeypatch, capsys):
    """A user's own SQLite file given as label input is refused and keeps its table and row."""
    import shutil

    shutil.copy(template / "foreign.db", tmp_path / "foreign.db")
    monkeypatch.chdir(tmp_path)
    assert main(["label", "foreign.db", "--db", "labels.db", "--no-progress"]) == 2
    con = sqlite3.connect(tmp_path / "foreign.db")
    try:
        assert con.execute("SELECT x FROM mine").fetchall() == [(42,)]
        assert {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")} == {"mine"}
    finally:
        con.close()
    assert not (tmp_path / "labels.db").exists()


# -- the pure rules -------------------------------------------------------------------------------------------


def test_contacts_count_periodic_images():
    """One atom in a 1 Å cubic cell touches its own images: 1 Å < 0.5 x 2 x 1.11 Å (Si covalent radius)."""
    from interforge import checks
    from interforge.errors import InputError

    tiny = Atoms("Si", positions=[[0, 0, 0]], cell=[1.0, 1.0, 1.0], pbc=True)
    with pytest.raises(InputError, match="apart"):
        checks.structure("tiny", tiny)
    assert checks.closest_contact(_si(), checks.MIN_DISTANCE_FRACTION) is None  # 2.35 Å bonds are fine


def test_a_slab_cell_needs_only_its_periodic_vectors_independent():
    """pbc = (T, T, F) with a zero third vector is a valid slab; with pbc all True it is singular."""
    from interforge import checks
    from interforge.errors import InputError

    slab = Atoms("Si2", positions=[[0, 0, 0], [1.5, 1.5, 1.5]], cell=[[5, 0, 0], [0, 5, 0], [0, 0, 0]],
                 pbc=[True, True, False])
    checks.structure("slab", slab)
    slab.pbc = True
    with pytest.raises(InputError, match="zero length|singular"):
        checks.structure("slab", slab)


def test_the_atom_limit_follows_the_environment(monkeypatch):
    from interforge import checks
    from interforge.errors import InputError

    monkeypatch.setenv("INTERFORGE_MAX_ATOMS", "100")
    assert checks.max_atoms() == 100
    with pytest.raises(InputError, match="limit 100"):
        checks.atom_count("--supercell", 101)
    monkeypatch.delenv("INTERFORGE_MAX_ATOMS")
    assert 1 <= checks.max_atoms() <= checks.MAX_ATOMS_HARD
