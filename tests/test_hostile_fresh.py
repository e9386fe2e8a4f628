"""Issue 16 acceptance: a second, independently written set of hostile inputs (about 220 tried by hand in a
subprocess harness); this table keeps the ones that failed before the fix. A third round (about 90 more, tried
the same way) adds symbolic link loops, unwritable mounts (/proc, /sys), non-UTF-8 names, cells that hang a
neighbour search, per-atom arrays that disagree with their header, huge counts, zero-length trajectories and
broken project files and report folders. Each asserts exit code 2, stderr exactly one error line (no log line
before it), no traceback, input files byte-identical and no output left behind."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from interforge.cli.main import main

REPO = Path(__file__).resolve().parents[1]
SMALL = REPO / "examples" / "small" / "interforge.toml"
CANDIDATES = Path(__file__).resolve().parent / "data" / "hostile" / "candidates.json"

NAN_E = ('2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=nan Lattice="5 0 0 0 5 0 0 0 5" pbc="T T T"\n'
         "Si 0 0 0 0 0 0\nSi 2 2 2 0 0 0\n")
NAN_F = ('2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 Lattice="5 0 0 0 5 0 0 0 5" pbc="T T T"\n'
         "Si 0 0 0 nan 0 0\nSi 2 2 2 0 0 0\n")
PARTIAL_CIF = """data_x
_cell_length_a 5.43
_cell_length_b 5.43
_cell_length_c 5.43
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Si1 Si 0 0 0 0.5
Si2 Si 0.5 0.5 0.5 1.0
"""
CU = '1\nLattice="3.6 0 0 0 3.6 0 0 0 3.6" pbc="T T T"\nCu 0 0 0\n'


@pytest.fixture
def d(tmp_path, nep_fixture_dir):
    """A user's folder: a structure, a labelled frame, a NEP model, notes, an ASE database."""
    si = bulk("Si", "diamond", a=5.43, cubic=True)
    write(tmp_path / "si.extxyz", si)
    lab = si.copy()
    lab.calc = SinglePointCalculator(lab, energy=-43.0, forces=np.zeros((8, 3)), stress=np.zeros(6))
    write(tmp_path / "lab.extxyz", lab)
    lab2 = si.copy()
    lab2.positions[0] += 0.05
    lab2.calc = SinglePointCalculator(lab2, energy=-42.9, forces=np.zeros((8, 3)), stress=np.zeros(6))
    write(tmp_path / "two.extxyz", [lab, lab2])
    (tmp_path / "nep.txt").write_bytes((nep_fixture_dir / "Si_2022_NEP4_5body.txt").read_bytes())
    (tmp_path / "c.txt").write_bytes((nep_fixture_dir / "C_2022_NEP4.txt").read_bytes())
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "cu.xyz").write_text(CU)
    (tmp_path / "nanE.extxyz").write_text(NAN_E)
    (tmp_path / "nanF.extxyz").write_text(NAN_F)
    (tmp_path / "ints.json").write_text("[1, 2, 3]")
    cands = json.loads(CANDIDATES.read_text())
    cands[0]["substrate_supercell"] = [[1, 1], [1, 1]]
    (tmp_path / "singular.json").write_text(json.dumps(cands))
    import ase.db

    ase.db.connect(str(tmp_path / "ase.db")).write(si)
    (tmp_path / "mol.xyz").write_text('2\npbc="F F F"\nSi 0 0 0\nSi 2.3 0 0\n')
    (tmp_path / "partial.cif").write_text(PARTIAL_CIF)
    with sqlite3.connect(tmp_path / "user.db") as con:
        con.execute("CREATE TABLE mine (x)")
        con.execute("INSERT INTO mine VALUES (42)")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "results.json").write_text('{"temperature_K": 600}')
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/urandom", tmp_path / "urandom.toml")
    os.symlink("/dev/null", tmp_path / "null.json")
    _third_round_inputs(tmp_path)
    return tmp_path


def _third_round_inputs(d: Path) -> None:
    """The third round's files: symbolic link loops, per-atom arrays that disagree with their header, labels
    that are words, trajectories too short to analyse, a non-UTF-8 file name, broken report folders."""
    from interforge.trajectory import TrajectoryWriter

    for name in ("loop.xyz", "loop.toml", "loop.json", "loopdir"):
        os.symlink(name, d / name)  # a link to itself: every use is ELOOP
    (d / "inconsistent.extxyz").write_text(
        '2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 pbc="T T T"\n'
        "Si 0 0 0 0 0 0\nSi 2 2 2 0\n")
    (d / "word_energy.extxyz").write_text(
        '2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3:forces:R:3 energy=abc pbc="T T T"\n'
        "Si 0 0 0 0 0 0\nSi 2 2 2 0 0 0\n")
    licl = bulk("LiCl", "rocksalt", a=5.14, cubic=True)
    one = licl.copy()
    one.info["time_ps"] = 0.0
    write(d / "oneframe.xyz", one, format="extxyz")
    w = TrajectoryWriter(d / "empty.h5", licl.numbers, licl.get_masses())
    w.close()  # an H5MD file with no frames
    rng = np.random.default_rng(0)
    frames, plain = [], []
    for k in range(6):
        f = licl.copy()
        f.positions += rng.normal(0, 0.05, f.positions.shape)
        plain.append(f.copy())
        f.info["time_ps"] = 0.1 * k
        frames.append(f)
    write(d / "traj.xyz", frames, format="extxyz")
    write(d / "notimes.extxyz", plain, format="extxyz")
    bad = frames[0].copy()
    bad.positions[0] = [np.nan, 0, 0]
    write(os.fsdecode(os.fsencode(d) + b"/bad\xff.xyz"), [bad, frames[1]], format="extxyz")
    (d / "rep_bin").mkdir()
    (d / "rep_bin" / "results.json").write_bytes(bytes(range(256)))
    (d / "rep_summ").mkdir()
    (d / "rep_summ" / "summary.json").write_text("[1, 2]")
    (d / "rep_fifo").mkdir()
    os.mkfifo(d / "rep_fifo" / "fit.json")
    # cells a neighbour search never finishes: 1e-3 Å cube, and a skewed cell 1e-4 Å thick (both hung > 60 s)
    (d / "tinycell.extxyz").write_text('1\nLattice="0.001 0 0 0 0.001 0 0 0 0.001" pbc="T T T"\nSi 0 0 0\n')
    (d / "flatcell.extxyz").write_text('2\nLattice="5 0 0 0 5 0 5 5 0.0001" pbc="T T T"\nSi 0 0 0\n'
                                       "Si 2 2 0.00005\n")
    dense = []
    for k in range(6):
        f = licl.copy()
        f.set_cell(f.cell * 0.3, scale_atoms=True)  # 0.46 Å^3 per atom
        f.info["time_ps"] = 0.1 * k
        dense.append(f)
    write(d / "dense.xyz", dense, format="extxyz")
    slab = bulk("Si", "diamond", a=5.43, cubic=True)
    slab.pbc = [True, True, False]
    slab.center(vacuum=5.0, axis=2)
    write(d / "slab.extxyz", slab)
    write(d / "prim.extxyz", bulk("Si", "diamond", a=5.43))  # a triclinic (fcc primitive) cell
    res = {"species": "Li", "temperature_K": 600.0, "conductivity": {"n_per_A3": 0.01},
           "diffusion": {"Li": {"D_cm2_s": 1e-6, "D_err_cm2_s": 1e-7}}}
    variants = {"good600": {}, "nanT": {"temperature_K": float("nan")},  # json writes NaN, and reads it back
                "wordD": {"temperature_K": 650.0, "diffusion": {"Li": {"D_cm2_s": "fast", "D_err_cm2_s": 1e-7}}},
                "negD": {"temperature_K": 650.0, "diffusion": {"Li": {"D_cm2_s": -1e-6, "D_err_cm2_s": 1e-7}}}}
    for name, change in variants.items():
        (d / f"{name}.json").write_text(json.dumps({**res, **change}))
    (d / "rep_types").mkdir()
    (d / "rep_types" / "results.json").write_text(json.dumps({**res, "temperature_K": "hot"}))


def _toml(d: Path, text: str) -> str:
    (d / "c.toml").write_text(text)
    return str(d / "c.toml")


def _snapshot(d: Path) -> dict[str, str]:
    out = {}
    for p in sorted(d.rglob("*")):
        if p.is_symlink():
            out[str(p)] = "link:" + os.readlink(p)
        elif stat.S_ISFIFO(p.lstat().st_mode):
            out[str(p)] = "fifo"
        elif p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[str(p)] = "dir"
    return out


MD_NO_OUT = ["md", "--model", "D/nep.txt", "--ensemble", "nvt", "--temperature", "300", "--steps", "5"]
MD = MD_NO_OUT + ["--out", "D/o"]
AN = ["analyze", "--out", "D/an", "--no-figures"]  # the cache is on: a refused file must not leave one

# name, argv (D = the user's folder), the rule the one error line names
CASES = [
    # outputs that are not regular files were replaced by the atomic rename (as root: /dev/null, /dev/full)
    ("json-to-fifo", ["bulk", "list", "--json", "D/fifo"], "not a regular file"),
    ("json-to-link-to-dev-null", ["bulk", "list", "--json", "D/null.json"], "not a regular file"),
    ("init-onto-fifo", ["init", "D/fifo", "--force"], "not a regular file"),
    # two outputs of one command on one path: the second replaced the first
    ("init-json-is-path", ["init", "D/new.toml", "--json", "D/new.toml"], "two outputs"),
    ("bulk-build-json-is-output", ["bulk", "build", "c-ZrO2", "-o", "D/x.xyz", "--json", "D/x.xyz"], "two outputs"),
    # a file path ending in '/' wrote a file named like the folder
    ("json-trailing-slash", ["bulk", "list", "--json", "D/newdir/"], "ends with '/'"),
    # project files
    ("config-workdir-nul", ["bulk", "list", "--config", "TOML:[project]\nworkdir = \"a\\u0000b\"\n"], "workdir"),
    ("config-temperature-1e308", ["bulk", "list", "--config", "TOML:[sampling]\ntemperatures_K = [1e308]\n"],
     "<= 100000 K"),
    ("config-seed-huge", ["bulk", "list", "--config", "TOML:[project]\nseed = 99999999999999999999999\n"],
     "project.seed"),
    ("config-link-to-urandom", ["bulk", "list", "--config", "D/urandom.toml"], "not a regular file"),
    ("config-fifo", ["bulk", "list", "--config", "D/fifo"], "not a regular file"),
    ("seed-store-empty", ["seed", "--config", "TOML:[data]\ndb = \"\"\n", "--workdir", "D/w"], "empty store path"),
    # interfaces candidates
    ("rank-candidates-list-of-ints", ["interfaces", "rank", "--candidates", "D/ints.json", "--out", "D/o"],
     "not a candidates file"),
    ("rank-registration-grid-huge", ["interfaces", "rank", "--candidates", str(CANDIDATES),
                                     "--registration-grid", "100000", "--out", "D/o"], "<= 10"),
    ("build-singular-supercell", ["interfaces", "build", "--candidates", "D/singular.json", "--lattices",
                                  "experimental", "--out", "D/o"], "singular"),
    ("bulk-order-calculator-missing", ["bulk", "order", "alpha-Li2ZrCl6", "--rerank", "1", "--calculator",
                                       "nosuchmodule:X"], "cannot load"),
    # the label store is an input too: --json onto it replaced the whole store with JSON (exit 0)
    ("stats-json-is-the-store", ["data", "stats", "--db", "D/store.db", "--json", "D/store.db"], "is an input"),
    ("import-json-is-the-store", ["data", "import", "D/lab.extxyz", "--db", "D/store.db", "--json", "D/store.db"],
     "is an input"),
    ("train-json-is-the-store", ["train", "--db", "D/store.db", "--out", "D/t", "--json", "D/store.db"],
     "is an input"),
    # a FIFO as the store of a reading verb: "no such store" (it exists), now named for what it is
    ("stats-store-is-a-fifo", ["data", "stats", "--db", "D/fifo"], "not a regular file"),
    ("export-store-is-a-folder", ["data", "export", "--db", "D/r", "--out", "D/o"], "a directory"),
    # report --out onto a results file the page reads
    ("report-out-is-results-json", ["report", "D/r", "--out", "D/r/results.json"], "not an HTML page"),
    # data
    ("import-nan-energy", ["data", "import", "D/nanE.extxyz", "--db", "D/s.db"], "energy holds NaN"),
    ("import-nan-forces", ["data", "import", "D/nanF.extxyz", "--db", "D/s.db"], "forces holds NaN"),
    ("export-query-garbage", ["data", "export", "--db", "D/store.db", "--out", "D/o", "--query", "((( stage=="],
     "not an ASE database query"),
    ("label-query-garbage", ["label", "D/ase.db", "--db", "D/s.db", "--query", "x==", "--teacher", "nep",
                             "--model", "D/nep.txt"], "not an ASE database query"),
    ("label-species-unknown-to-nep-teacher", ["label", "D/cu.xyz", "--db", "D/s.db", "--teacher", "nep",
                                              "--model", "D/nep.txt"], "no parameters"),
    # md ranges and species
    ("md-temperature-1e308", ["md", "--model", "D/nep.txt", "--ensemble", "nvt", "--temperature", "1e308",
                              "--steps", "5", "--out", "D/o", "D/si.extxyz"], "<= 100000"),
    ("md-pressure-1e308", ["md", "--model", "D/nep.txt", "--ensemble", "npt", "--pressure", "1e308",
                           "--temperature", "300", "--steps", "5", "--out", "D/o", "D/si.extxyz"], "--pressure"),
    ("md-steps-1e23", ["md", "--model", "D/nep.txt", "--temperature", "300", "--steps",
                       "99999999999999999999999", "--out", "D/o", "D/si.extxyz"], "--steps"),
    ("md-seed-1e23", ["md", "--model", "D/nep.txt", "--temperature", "300", "--steps", "5", "--seed",
                      "99999999999999999999999", "--out", "D/o", "D/si.extxyz"], "--seed"),
    ("md-species-unknown-to-model", ["md", "--model", "D/nep.txt", "--ensemble", "nvt", "--temperature", "300",
                                     "--steps", "5", "--out", "D/o", "D/cu.xyz"], "no parameters"),
    ("md-committee-mixed-species", ["md", "--model", "D/nep.txt", "D/c.txt", "--ensemble", "nvt",
                                    "--temperature", "300", "--steps", "5", "--out", "D/o", "D/si.extxyz"],
     "different species"),
    ("md-timestep-1e308", ["md", "--model", "D/nep.txt", "--ensemble", "nvt", "--temperature", "300", "--steps", "5",
                           "--timestep", "1e308", "--out", "D/o", "D/si.extxyz"], "--timestep"),
    ("md-molecule-without-cell", ["md", "--model", "D/nep.txt", "--ensemble", "nvt", "--temperature", "300",
                                  "--steps", "5", "--out", "D/o", "D/mol.xyz"], "no cell"),
    ("md-partial-occupancy-cif", ["md", "--model", "D/nep.txt", "--ensemble", "nvt", "--temperature", "300",
                                  "--steps", "5", "--out", "D/o", "D/partial.cif"], "partial occupancies"),
    ("train-generation-1e20", ["train", "--db", "D/store.db", "--out", "D/t", "--generation",
                               "99999999999999999999"], "--generation"),
    # a user's own SQLite file read as structures: ASE's reader added its tables to it
    ("md-structure-is-a-user-sqlite", ["md", "--model", "D/nep.txt", "--temperature", "300", "--steps", "5",
                                       "--out", "D/o", "D/user.db"], "not an ASE database"),
    ("search-substrate-is-a-user-sqlite", ["interfaces", "search", "--lattices", "experimental", "--substrate",
                                           "D/user.db", "--film", "ideal-Li2ZrCl6", "--out", "D/o"],
     "not an ASE database"),
    ("import-user-sqlite", ["data", "import", "D/user.db", "--db", "D/s.db"], "not an ASE database"),
    # validate: a model that does not know the project's elements started minutes of teacher MD
    ("validate-model-species", ["validate", "--model", "D/nep.txt", "--config", str(SMALL), "--workdir", "D/w"],
     "no parameters for"),
] + [
    # -- a third round (issue 16), by another hand -------------------------------------------------------------
    # symbolic link loops: Path.resolve() raised RuntimeError deep in the verb (exit 1) or they read as "not found"
    ("md-structure-symlink-loop", MD + ["D/loop.xyz"], "symbolic link"),
    ("md-out-symlink-loop", MD_NO_OUT + ["--out", "D/loopdir", "D/si.extxyz"], "symbolic link loop"),
    ("md-out-below-symlink-loop", MD_NO_OUT + ["--out", "D/loopdir/run", "D/si.extxyz"], "symbolic link loop"),
    ("bulk-build-output-symlink-loop", ["bulk", "build", "c-ZrO2", "-o", "D/loop.xyz"], "symbolic link loop"),
    ("init-path-symlink-loop", ["init", "D/loop.toml"], "cannot be resolved"),
    ("bulk-list-workdir-symlink-loop", ["bulk", "list", "--workdir", "D/loopdir"], "cannot be resolved"),
    ("config-workdir-symlink-loop", ["bulk", "list", "--config", "TOML:[project]\nworkdir = \"loopdir\"\n"],
     "[project] workdir"),
    ("export-out-symlink-loop", ["data", "export", "--db", "D/store.db", "--out", "D/loopdir"], "symbolic link loop"),
    # outputs on file systems where nothing can be created (root passed the permission-bit check; the MD ran and
    # its results were lost, or the run folder failed after the calculator was built)
    ("md-json-in-proc", MD + ["D/si.extxyz", "--json", "/proc/interforge-results.json"], "cannot write"),
    ("md-out-in-sys", MD_NO_OUT + ["--out", "/sys/interforge-run", "D/si.extxyz"], "cannot write"),
    ("stats-json-in-proc", ["data", "stats", "--db", "D/store.db", "--json", "/proc/stats.json"], "cannot write"),
    # per-atom arrays that disagree with the Properties header; labels that are words
    ("md-inconsistent-per-atom-arrays", MD + ["D/inconsistent.extxyz"], "cannot read"),
    ("train-label-is-a-word", ["train", "--db", "D/word_energy.extxyz", "--out", "D/t"], "not a number"),
    # huge counts
    ("label-workers-1e8", ["label", "D/si.extxyz", "--db", "D/s.db", "--teacher", "nep", "--model", "D/nep.txt",
                           "--no-progress", "--workers", "100000000"], "--workers"),
    ("label-iteration-1e20", ["label", "D/si.extxyz", "--db", "D/s.db", "--teacher", "nep", "--model", "D/nep.txt",
                              "--no-progress", "--iteration", "100000000000000000000"], "--iteration"),
    ("train-committee-1e9", ["train", "--db", "D/store.db", "--out", "D/t", "--committee", "1000000000"],
     "--committee"),
    ("train-parallel-1e8", ["train", "--db", "D/store.db", "--out", "D/t", "--parallel", "100000000"], "--parallel"),
    ("config-committee-1e9", ["train", "--db", "D/store.db", "--out", "D/t", "--config",
                              "TOML:[nep]\ncommittee = 1000000000\n"], "nep.committee"),
    ("config-max-workers-1e8", ["bulk", "list", "--config", "TOML:[workflow]\nmax_workers = 100000000\n"],
     "workflow.max_workers"),
    # a model to fine-tune that lacks the data's elements: found after training had started (a log line first)
    ("train-init-lacks-the-elements", ["train", "--db", "D/two.extxyz", "--out", "D/t", "--init", "D/c.txt"],
     "cannot be fine-tuned"),
    # too little data: refused before a worker pool started (it logged and left runinfo/ behind)
    ("train-parallel-one-structure", ["train", "--db", "D/store.db", "--out", "D/t", "--parallel", "2"],
     "at least 2 labelled"),
    # analyze: zero-length and too short trajectories, absent species, equilibration beyond the run; each logged
    # the read and left a cache file next to the user's trajectory before failing
    ("analyze-one-frame", AN + ["D/oneframe.xyz"], "at least 4"),
    ("analyze-zero-frame-h5md", AN + ["D/empty.h5"], "at least 4"),
    ("analyze-species-absent", AN + ["D/traj.xyz", "--species", "K"], "--species"),
    ("analyze-equilibration-beyond-run", AN + ["D/traj.xyz", "--equilibration-ps", "1e9"], "--equilibration-ps"),
    ("analyze-equilibration-negative", AN + ["D/traj.xyz", "--equilibration-ps", "-5"], "--equilibration-ps"),
    ("analyze-nan-in-a-non-utf8-name", AN + ["D/bad\udcff.xyz"], "NaN"),
    ("analyze-dt-ps-1e308", AN + ["D/notimes.extxyz", "--dt-ps", "1e308"], "--dt-ps"),
    ("analyze-dt-ps-1e-300", AN + ["D/notimes.extxyz", "--dt-ps", "1e-300"], "--dt-ps"),
    ("analyze-temperature-1e308", AN + ["D/traj.xyz", "--temperature-K", "1e308"], "--temperature-K"),
    # report folders holding broken JSON: a traceback (binary), an AttributeError (a list), a FIFO that blocks
    ("report-results-binary", ["report", "D/rep_bin"], "unreadable"),
    ("report-summary-is-a-list", ["report", "D/rep_summ"], "not a learn summary"),
    ("report-json-is-a-fifo", ["report", "D/rep_fifo"], "nothing to report"),
    # cells so thin or dense that the neighbour search of the contact check (or of the analysis) never ended
    ("md-tiny-cell", MD + ["D/tinycell.extxyz"], "thick across"),
    ("md-flat-skewed-cell", MD + ["D/flatcell.extxyz"], "thick across"),
    ("label-flat-skewed-cell", ["label", "D/flatcell.extxyz", "--db", "D/s.db", "--teacher", "nep", "--model",
                                "D/nep.txt", "--no-progress"], "thick across"),
    ("import-flat-skewed-cell", ["data", "import", "D/flatcell.extxyz", "--db", "D/s.db"], "thick across"),
    ("search-substrate-tiny-cell", ["interfaces", "search", "--substrate", "D/tinycell.extxyz", "--film",
                                    "ideal-Li2ZrCl6", "--lattices", "experimental", "--out", "D/is"], "thick across"),
    ("analyze-denser-than-any-solid", AN + ["D/dense.xyz"], "denser than any solid"),
    # the ASE engine's own rules, found only after the calculator was built (a retried task, three stderr lines)
    ("md-npt-on-a-slab", MD_NO_OUT + ["--ensemble", "npt", "--out", "D/o", "D/slab.extxyz"], "npt needs"),
    ("md-orthorhombic-barostat-triclinic-cell", MD_NO_OUT + ["--ensemble", "npt", "--barostat", "orthorhombic",
                                                             "--out", "D/o", "D/prim.extxyz"], "orthogonal cell"),
    # a search for nothing (an INFO line, then "no match") and one where everything matches (exit 0)
    ("search-max-strain-1e-300", ["interfaces", "search", "--substrate", "c-ZrO2", "--film", "ideal-Li2ZrCl6",
                                  "--lattices", "experimental", "--max-strain", "1e-300", "--out", "D/is"],
     "--max-strain"),
    ("search-max-strain-1e300", ["interfaces", "search", "--substrate", "c-ZrO2", "--film", "ideal-Li2ZrCl6",
                                 "--lattices", "experimental", "--max-strain", "1e300", "--out", "D/is"],
     "--max-strain"),
    ("seed-config-max-strain-1e300", ["seed", "--config", "TOML:[interfaces]\nmax_strain = 1e300\n"],
     "[interfaces] max_strain"),
    # analyze results with NaN, words or a negative D where a fit takes ln D: a traceback, or a fit of nan
    ("arrhenius-nan-temperature", ["arrhenius", "D/nanT.json", "D/good600.json"], "temperature_K"),
    ("arrhenius-D-is-a-word", ["arrhenius", "D/wordD.json", "D/good600.json"], "D_cm2_s"),
    ("arrhenius-negative-D", ["arrhenius", "D/negD.json", "D/good600.json"], "ln D"),
    ("report-results-temperature-is-a-word", ["report", "D/rep_types"], "temperature_K"),
    # project files: unknown phases found after the first stages ran; no gate temperatures; wrong types deep down
    ("seed-unknown-phase", ["seed", "--config", "TOML:[structures]\nphases = [\"unobtainium\"]\n"],
     "[structures] phases"),
    ("demo-config-unknown-phase", ["demo", "--scale", "tiny", "--out", "D/demo", "--config",
                                   "TOML:[structures]\nphases = [\"c-ZrO2\", \"unobtainium\"]\n"],
     "[structures] phases"),
    ("validate-no-gate-temperatures", ["validate", "--model", "D/nep.txt", "--config",
                                       "TOML:[validation]\ntemperatures_K = []\n[production]\n"
                                       "bulk_temperatures_K = []\n"], "[validation] temperatures_K"),
    ("demo-config-interface-side-is-a-number", ["demo", "--scale", "tiny", "--out", "D/demo", "--config",
                                                "TOML:[[structures.interfaces]]\nsubstrate = 5\n"
                                                "film = \"ideal-Li2ZrCl6\"\n"], "structures.interfaces.0.substrate"),
]


def _store(d: Path) -> None:
    assert main(["data", "import", str(d / "lab.extxyz"), "--db", str(d / "store.db"), "--workdir", str(d)]) == 0


@pytest.mark.parametrize("name,argv,rule", CASES, ids=[c[0] for c in CASES])
def test_fresh_hostile(name, argv, rule, d, capsys, monkeypatch):
    if "D/store.db" in argv:
        _store(d)
    monkeypatch.chdir(d)
    args = []
    for a in argv:
        if a.startswith("TOML:"):
            a = _toml(d, a[5:])
        args.append(a.replace("D/", f"{d}/"))
    if "--workdir" not in args and not any(a.startswith("--config") for a in args):
        args += ["--workdir", str(d)]
    capsys.readouterr()
    before = _snapshot(d)
    code = main(args)
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if "error" in ln]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(errors) == 1 and errors[0].startswith("interforge: error:"), err
    assert [ln for ln in err.splitlines() if ln.strip()] == errors, f"stderr is not one line: {err}"
    assert rule in errors[0], errors[0]
    after = _snapshot(d)
    new = {k for k in after if k not in before and not k.endswith("interforge.log")}
    assert not new, new
    assert {k: v for k, v in after.items() if k in before and not k.endswith("interforge.log")} == \
        {k: v for k, v in before.items() if not k.endswith("interforge.log")}
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_store_locked_by_another_process_is_refused_at_once(d, capsys):
    """An SQLite store held by another process's exclusive lock: refused within seconds, not after the store's
    one-minute busy wait, and left as it was."""
    _store(d)
    db = d / "store.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    locker = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
         "c.execute('PRAGMA locking_mode=EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); "
         "time.sleep(60)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        for argv in (["data", "stats", "--db", str(db)],
                     ["data", "export", "--db", str(db), "--out", str(d / "o")],
                     ["data", "import", str(d / "lab.extxyz"), "--db", str(db)]):
            t0 = time.monotonic()
            code = main(argv + ["--workdir", str(d)])
            err = capsys.readouterr().err
            assert code == 2, err
            assert "locked by another process" in err
            assert time.monotonic() - t0 < 30
        assert not (d / "o").exists()
    finally:
        locker.kill()
        locker.wait()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with sqlite3.connect(db) as con:  # readable again once the other process is gone
        assert con.execute("SELECT COUNT(*) FROM systems").fetchone()[0] == 1


def test_subprocess_json_onto_a_fifo_neither_hangs_nor_replaces_it(d):
    """The same rule from the installed command line: one line, exit 2, the FIFO still a FIFO."""
    r = subprocess.run([sys.executable, "-m", "interforge.cli.main", "bulk", "list", "--json", str(d / "fifo"),
                        "--workdir", str(d)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert stat.S_ISFIFO((d / "fifo").lstat().st_mode)


def test_a_non_utf8_file_name_is_logged_escaped(d, capsys):
    """A file name that is not UTF-8 (bytes a shell passes through) is a valid output: exit 0, and the log file
    gets it escaped instead of printing a '--- Logging error ---' traceback on stderr."""
    out = os.fsdecode(os.fsencode(d) + b"/out\xff.xyz")
    assert main(["bulk", "build", "c-ZrO2", "-o", out, "--json", str(d / "b.json"), "--workdir", str(d)]) == 0
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    assert Path(out).is_file()
    import logging

    logging.getLogger("interforge.cli").info("wrote %s", out)  # the handlers main() set up, log file included
    assert "Logging error" not in capsys.readouterr().err
    assert "out\\udcff.xyz" in (d / "interforge.log").read_text(encoding="utf-8")


def test_the_write_probe_leaves_nothing(d, capsys):
    """Output folders are probed by creating and removing a file: nothing of it stays, in the user's folder or
    in the output folder's nearest existing parent."""
    before = _snapshot(d)
    assert main(["bulk", "list", "--json", str(d / "sub" / "l.json"), "--workdir", str(d)]) == 0
    after = _snapshot(d)
    assert not [k for k in after if ".interforge-write-probe-" in k]
    assert set(after) - set(before) - {str(d / "interforge.log")} == {str(d / "sub"), str(d / "sub" / "l.json")}
