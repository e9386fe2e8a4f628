"""GPUMD driver: run.in checked against GPUMD's own parsers (release 5.6 and master), version detection from the
banner with stand-in executables, hand-written output fixtures.

``check_run_in`` below restates what GPUMD's parsers accept (read from its source, tag v5.6 at 5fad844f and master
at d98135de): src/main_gpumd/run.cu (potential, velocity, time_step, correct_velocity, run, keyword dispatch),
src/integrate/integrate.cu (ensemble), src/measure/dump_thermo.cu, src/measure/dump_xyz.cu, src/measure/dump_exyz.cu,
src/measure/active.cu, src/force/nep.cu + dftd3.cu (dftd3), src/utilities/read_file.cu (is_valid_int: strtol
base 0, is_valid_real: strtod) and src/model/read_xyz.cu (box, pbc, groups).
"""

import math
import os
import re
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest
from ase.build import bulk

from interforge.errors import InterforgeError
from interforge.md.gpumd import (
    DFTD3_FUNCTIONALS, RELEASED_VERSION, GpumdRun, box_is_triclinic, convert_outputs, detect_gpumd_version,
    dump_grammar, parse_banner, parse_version, rejected_grammar, run_gpumd, run_in_text, write_model_xyz)
from interforge.trajectory import TrajectoryReader, read_thermo

# --------------------------------------------------------------------------------------------------------------
# What GPUMD accepts
# --------------------------------------------------------------------------------------------------------------

_DEC_INT = re.compile(r"[+-]?(0|[1-9][0-9]*)")  # strtol(base 0) would read a leading 0 as octal: none written
_DUMP_QUANTITIES_56 = {"velocity", "force", "potential", "unwrapped_position", "mass", "charge", "virial", "group"}
_DUMP_QUANTITIES_MASTER = {"velocity", "force", "potential", "unwrapped_position", "mass", "charge", "virial",
                           "group_labels"}


class Rejected(AssertionError):
    pass


def _int(tok, what):
    if not _DEC_INT.fullmatch(tok):
        raise Rejected(f"{what} should be an integer, got {tok!r}")
    return int(tok)


def _real(tok, what):
    try:
        v = float(tok)
    except ValueError:
        raise Rejected(f"{what} should be a real number, got {tok!r}") from None
    if not math.isfinite(v):
        raise Rejected(f"{what} is not finite: {tok!r}")
    return v


def check_run_in(text, grammar="5.6", n_groups=0, group_sizes=(), triclinic=False, pbc=(True, True, True)):
    """Raise Rejected where GPUMD (``grammar`` '5.6' = releases 4.0-5.6, or 'master') would stop on ``text``.

    Covers every keyword interforge writes; any other keyword is rejected here (interforge writes no other).
    After each ``run`` GPUMD finalises the ensemble, the dumps and correct_velocity (run.cu perform_a_run:
    measure/integrate/velocity finalize), while time_step and the global time carry over: so every block needs
    its own ensemble, and a ``velocity`` after the first run would redraw the velocities of a running system.
    Returns the token lists."""
    master = grammar == "master"
    lines = [ln.split() for ln in text.splitlines() if ln.split()]
    n_pot = 0
    runs = 0
    block_ensemble = False
    for t in lines:
        n, kw = len(t), t[0]
        if n > 32:
            raise Rejected("The number of parameters should be less than 32.")
        if kw == "potential":
            if n not in (2, 3):
                raise Rejected("potential should have 1 or 2 parameters.")
            n_pot += 1
        elif kw == "dftd3":  # read by each NEP potential (nep.cu initialize_dftd3)
            if n != 4:
                raise Rejected("dftd3 must have 3 parameters")
            if t[1].lower() not in DFTD3_FUNCTIONALS:
                raise Rejected(f"unknown dftd3 functional {t[1]}")
            _real(t[2], "rc_potential"), _real(t[3], "rc_coordination_number")
        elif kw == "velocity":
            if runs:
                raise Rejected("velocity after a run redraws the velocities (interforge never wants that)")
            if n not in (2, 4):
                raise Rejected("velocity should have 1 or 2 parameters.")
            if _real(t[1], "initial temperature") <= 0:
                raise Rejected("initial temperature should be a positive number.")
            if n == 4:
                _int(t[3], "seed")
        elif kw == "time_step":
            if n not in (2, 3):
                raise Rejected("time_step should have 1 or 2 parameters.")
            _real(t[1], "time_step")
            if n == 3 and _real(t[2], "max distance per step") <= 0:
                raise Rejected("max distance per step should > 0.")
        elif kw == "correct_velocity":
            if n not in (2, 3):
                raise Rejected("correct_velocity should have 1 or 2 parameters.")
            if _int(t[1], "velocity correction interval") < 10:
                raise Rejected("velocity correction interval should >= 10.")
        elif kw == "ensemble":
            _check_ensemble(t, triclinic, pbc)
            block_ensemble = True
        elif kw == "dump_thermo":
            if n != 2:
                raise Rejected("dump_thermo should have 1 parameter.")
            if _int(t[1], "thermo dump interval") <= 0:
                raise Rejected("thermo dump interval should > 0.")
        elif kw == "dump_xyz":
            (_dump_xyz_master if master else _dump_xyz_56)(t, n_groups, group_sizes)
        elif kw == "dump_exyz":
            if master:
                raise Rejected("dump_exyz has been removed.")
            if not 2 <= n <= 6:
                raise Rejected("dump_exyz should have at least 1 parameter.")
            if _int(t[1], "dump interval") <= 0:
                raise Rejected("dump interval should > 0.")
            for k in range(2, n):
                _int(t[k], "dump_exyz flag")
        elif kw == "active":
            if n != 6:
                raise Rejected("active should have 5 parameters.")
            if _int(t[1], "check interval") <= 0:
                raise Rejected("check interval should > 0.")
            for k in (2, 3, 4):
                _int(t[k], "active flag")
            _real(t[5], "threshold")
            if n_pot < 2:
                raise Rejected("active needs two or more potentials to have an uncertainty")
        elif kw == "run":
            if n != 2:
                raise Rejected("run should have 1 parameter.")
            _int(t[1], "number of steps")
            if n_pot == 0:
                raise Rejected("run before any potential")
            if not block_ensemble:
                raise Rejected("run without an ensemble in its block")
            runs += 1
            block_ensemble = False
        else:
            raise Rejected(f"keyword {kw} is not one interforge writes")
    if runs < 1 or lines[-1][0] != "run":
        raise Rejected("expected run blocks ending with run N")
    return lines


def _check_ensemble(t, triclinic, pbc):
    n, kind = len(t), t[1] if len(t) > 1 else ""
    if kind == "nve":
        if n != 2:
            raise Rejected("ensemble nve should have 0 parameter.")
        return
    if kind == "nvt_bdp":
        if n != 5:
            raise Rejected("ensemble nvt_bdp should have 3 parameters.")
    elif kind == "npt_scr":
        if n not in (8, 12, 18):
            raise Rejected("ensemble npt_scr should have 6, 10, or 16 parameters.")
    else:
        raise Rejected(f"ensemble {kind} is not one interforge writes")
    if _real(t[2], "Initial temperature") <= 0 or _real(t[3], "Final temperature") <= 0:
        raise Rejected("temperatures should > 0.")
    if _real(t[4], "Temperature coupling") < 1:
        raise Rejected("Temperature coupling should >= 1.")
    if kind == "nvt_bdp":
        return
    k = {8: 1, 12: 3, 18: 6}[n]
    for j in range(k):
        _real(t[5 + j], "Pressure")
    for j in range(k):
        if _real(t[5 + k + j], "elastic modulus") <= 0:
            raise Rejected("elastic modulus should > 0.")
    if k in (1, 3) and triclinic:
        raise Rejected(f"Cannot use triclinic box with only {k} target pressure component(s).")
    if k in (1, 6) and not all(pbc):
        raise Rejected("Cannot use this form with non-periodic boundary in any direction.")
    if _real(t[5 + 2 * k], "Pressure coupling") < 1:
        raise Rejected("Pressure coupling should >= 1.")


def _dump_xyz_56(t, n_groups, group_sizes):
    n = len(t)
    if n < 5:
        raise Rejected("dump_xyz should have at least 4 parameters.")
    gm = _int(t[1], "grouping method of dump_xyz")
    gid = _int(t[2], "group id of dump_xyz")
    if gm >= 0:
        if gm >= n_groups:
            raise Rejected("grouping method exceeds the bound.")
        if not 0 <= gid < group_sizes[gm]:
            raise Rejected("group id exceeds the bound.")
    if _int(t[3], "dump interval") <= 0:
        raise Rejected("dump interval should > 0.")
    for q in t[5:]:  # 5.6 ignores unknown words silently: a typo would silently drop a column, so reject here
        if q not in _DUMP_QUANTITIES_56:
            raise Rejected(f"dump_xyz quantity {q} is not one GPUMD 5.6 knows")


def _dump_xyz_master(t, n_groups, group_sizes):
    n = len(t)
    if n < 3:
        raise Rejected("dump_xyz should have at least 2 parameters.")
    if n >= 4 and _DEC_INT.fullmatch(t[2]) and _DEC_INT.fullmatch(t[3]):
        raise Rejected("dump_xyz no longer takes <grouping_method> <group_id> as its first two parameters.")
    if _int(t[1], "dump interval") <= 0:
        raise Rejected("dump interval should > 0.")
    m = 3
    while m < n:
        if t[m] == "group":
            if m + 2 >= n:
                raise Rejected("Option 'group' should be followed by a grouping method and a group ID.")
            gm, gid = _int(t[m + 1], "grouping method"), _int(t[m + 2], "group id")
            if gm >= 0 and (gm >= n_groups or not 0 <= gid < group_sizes[gm]):
                raise Rejected("group out of bounds")
            m += 3
        elif t[m] == "precision":
            if m + 1 >= n or t[m + 1] not in ("single", "double"):
                raise Rejected("precision should be single or double")
            m += 2
        elif t[m] in _DUMP_QUANTITIES_MASTER:
            m += 1
        else:
            raise Rejected("Unrecognized argument in dump_xyz.")


# --------------------------------------------------------------------------------------------------------------
# The validator itself, on lines from GPUMD's documentation and on lines GPUMD rejects
# --------------------------------------------------------------------------------------------------------------

_HEAD = "potential nep.txt\nvelocity 300\ntime_step 1\nensemble nvt_bdp 300 300 100\ndump_thermo 100\n"


def test_validator_knows_both_dump_grammars():
    check_run_in(_HEAD + "dump_xyz -1 0 1000 dump.xyz unwrapped_position velocity\nrun 1000\n", "5.6")
    check_run_in(_HEAD + "dump_xyz 1000 dump.xyz unwrapped_position velocity\nrun 1000\n", "master")
    check_run_in(_HEAD + "dump_exyz 1000 1 0\nrun 1000\n", "5.6")
    for bad56 in ("dump_xyz 10 dump.xyz unwrapped_position", "dump_xyz 10 dump.xyz unwrapped_position velocity",
                  "dump_xyz -1 0 1000 dump.xyz unwraped_position"):
        with pytest.raises(Rejected):
            check_run_in(_HEAD + bad56 + "\nrun 10\n", "5.6")
    for bad_master in ("dump_xyz -1 0 1000 dump.xyz", "dump_exyz 1000 0 0", "dump_xyz 10 dump.xyz group"):
        with pytest.raises(Rejected):
            check_run_in(_HEAD + bad_master + "\nrun 10\n", "master")
    with pytest.raises(Rejected, match="triclinic"):
        check_run_in(_HEAD.replace("nvt_bdp 300 300 100", "npt_scr 300 300 100 0 30 1000") + "run 10\n",
                     triclinic=True)
    with pytest.raises(Rejected, match=">= 10"):
        check_run_in(_HEAD + "correct_velocity 5\nrun 10\n")


# --------------------------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------------------------

BANNER_56 = """
***************************************************************
*                 Welcome to use GPUMD                        *
*     (Graphics Processing Units Molecular Dynamics)          *
*                     version 5.6                             *
*              This is the gpumd executable                   *
***************************************************************

---------------------------------------------------------------
Compiling options:
---------------------------------------------------------------
DEBUG is off: Use different PRNG seeds for different runs.
"""


def test_parse_banner_and_versions():
    assert parse_banner(BANNER_56) == "5.6"
    assert parse_banner(BANNER_56.replace("version 5.6", "Version 3.9.5")) == "3.9.5"
    assert parse_banner("CUDA version 13.0\nnumber of GPUs = 1\n") is None  # not the banner box
    assert parse_version("5.6") == (5, 6) and parse_version("v4.0") == (4, 0)
    assert parse_version(None) == parse_version("auto") == parse_version(RELEASED_VERSION) == (5, 6)
    assert parse_version("latest") > (5, 6) and parse_version("master") == parse_version("latest")
    assert dump_grammar("4.0") == dump_grammar("5.6") == dump_grammar(None) == "grouped"
    assert dump_grammar("latest") == dump_grammar("5.7") == "plain"
    with pytest.raises(InterforgeError, match="older than 4.0"):
        dump_grammar("3.9")
    with pytest.raises(InterforgeError, match="must look like"):
        parse_version("five")
    # the texts the two executables printed on the GPU check (docs/gpumd.md, round 2)
    master_refusal = ("Input Error:\n    File:       measure/dump_xyz.cu\n    Error text: dump_xyz no longer takes "
                      "<grouping_method> <group_id> as its first two parameters. Use dump_xyz <interval> <filename> "
                      "[group <grouping_method> <group_id>] instead.\n")
    assert rejected_grammar(master_refusal) == "grouped"
    assert rejected_grammar("    Error text: grouping method exceeds the bound.\n") == "plain"
    assert rejected_grammar("Error text: dump_xyz should have at least 4 parameters.\n") == "plain"
    assert rejected_grammar("Error text: Cannot open run.in.") is None


# --------------------------------------------------------------------------------------------------------------
# Every run.in the writer produces parses in the grammar it was written for
# --------------------------------------------------------------------------------------------------------------

D3 = {"functional": "pbe", "potential_cutoff": 12.0, "coordination_number_cutoff": 6.0}


def _all_runs(version):
    pots = ["a.txt", "b.txt", "c.txt", "d.txt"]
    for ensemble in ("nve", "nvt", "npt"):
        for mode in ("isotropic", "orthorhombic", "normal"):
            for triclinic in (False, True):
                for committee in (False, True):
                    for extras in ({}, {"dispersion": D3, "dump_velocities": True, "seed": 7,
                                        "temperature_end_K": 900.0, "pressure_bar": 1e4}):
                        run = GpumdRun(potentials=pots if committee else pots[:1], ensemble=ensemble,
                                       barostat_mode=mode, triclinic=triclinic, steps=20_000, dump_interval=500,
                                       thermo_interval=50, active_interval=100 if committee else 0,
                                       gpumd_version=version, **extras)
                        yield run


@pytest.mark.parametrize("version,grammar", [("5.6", "5.6"), ("4.0", "5.6"), (None, "5.6"), ("auto", "5.6"),
                                             ("latest", "master")])
def test_every_written_run_in_parses(version, grammar):
    n = 0
    for run in _all_runs(version):
        text = run_in_text(run)
        lines = check_run_in(text, grammar, triclinic=run.triclinic)
        # and not in the other grammar: the two dump_xyz forms exclude each other
        with pytest.raises(Rejected, match="dump_xyz"):
            check_run_in(text, "master" if grammar == "5.6" else "5.6", triclinic=run.triclinic)
        thermo = [t for t in lines if t[0] == "dump_thermo"]
        assert thermo == [["dump_thermo", "50"]]  # the interval asked for, never a hard-coded one
        n += 1
    assert n == 3 * 3 * 2 * 2 * 2


def test_run_in_paper_production_settings():
    """Paper: NPT, BDP + SCR at 1 bar, 1 fs, momenta removed every 10 steps; GPUMD 5.6 grammar."""
    run = GpumdRun(potentials=["nep.txt"], ensemble="npt", temperature_K=300, steps=5_000_000, pressure_bar=1.0,
                   timestep_fs=1.0, thermostat_tau_fs=100, barostat_tau_fs=1000, bulk_modulus_GPa=30,
                   momentum_removal_interval=10, dump_interval=1000, thermo_interval=1000, gpumd_version="5.6")
    lines = check_run_in(run_in_text(run), "5.6")
    assert lines[0] == ["potential", "nep.txt"]
    assert lines[1] == ["velocity", "300"]
    assert lines[2] == ["time_step", "1"]
    assert lines[3] == ["correct_velocity", "10"]
    # ensemble npt_scr T1 T2 T_coup p C p_coup: 8 tokens, p and C in GPa, couplings in steps
    ens = lines[4]
    assert ens[:2] == ["ensemble", "npt_scr"] and len(ens) == 8
    assert [float(x) for x in ens[2:]] == [300, 300, 100, 1e-4, 30, 1000]
    assert lines[5] == ["dump_thermo", "1000"]
    # 5.6: dump_xyz <grouping method> <group id> <interval> <file> [quantities]; -1 = all atoms
    assert lines[6] == ["dump_xyz", "-1", "0", "1000", "dump.xyz", "unwrapped_position"]
    assert lines[-1] == ["run", "5000000"]


def test_run_in_dialects_and_ensembles():
    base = dict(potentials=["a.txt", "b.txt", "c.txt", "d.txt"], temperature_K=300, temperature_end_K=3000,
                steps=100000, timestep_fs=1.0, dump_interval=500, thermo_interval=100)
    nvt = check_run_in(run_in_text(GpumdRun(ensemble="nvt", active_interval=100, active_threshold_eV_A=0.3,
                                            gpumd_version="latest", **base)), "master")
    assert [ln for ln in nvt if ln[0] == "potential"] == [["potential", p] for p in base["potentials"]]
    assert ["ensemble", "nvt_bdp", "300", "3000", "100"] in nvt  # linear ramp T1 -> T2, T_coup = 100 fs / 1 fs
    # master: dump_xyz N file quantities (wrapped positions always, unwrapped ones asked for)
    assert ["dump_xyz", "500", "dump.xyz", "unwrapped_position"] in nvt
    # active interval has_vel has_force has_uncertainty threshold
    assert ["active", "100", "0", "0", "1", "0.3"] in nvt
    ortho = check_run_in(run_in_text(GpumdRun(ensemble="npt", barostat_mode="orthorhombic", pressure_bar=1e4,
                                              bulk_modulus_GPa=40, **base)))
    ens = next(ln for ln in ortho if ln[0] == "ensemble")
    # T1 T2 T_coup pxx pyy pzz Cxx Cyy Czz p_coup
    assert ens[1] == "npt_scr" and len(ens) == 12
    assert [float(x) for x in ens[2:]] == [300, 3000, 100, 1, 1, 1, 40, 40, 40, 1000]
    normal = check_run_in(run_in_text(GpumdRun(ensemble="npt", barostat_mode="normal", bulk_modulus_GPa=40, **base)))
    ens = next(ln for ln in normal if ln[0] == "ensemble")
    assert float(ens[8]) > 2000 and float(ens[9]) > 2000 and float(ens[10]) == 40  # x, y frozen
    # a box with off-diagonal elements: pxx pyy pzz pyz pxz pxy Cxx Cyy Czz Cyz Cxz Cxy p_coup, tilts frozen
    tri = check_run_in(run_in_text(GpumdRun(ensemble="npt", triclinic=True, bulk_modulus_GPa=40, **base)),
                       triclinic=True)
    ens = next(ln for ln in tri if ln[0] == "ensemble")
    assert len(ens) == 18 and [float(x) for x in ens[5:11]] == [1e-4, 1e-4, 1e-4, 0, 0, 0]
    assert [float(x) for x in ens[11:14]] == [40, 40, 40] and min(float(x) for x in ens[14:17]) > 2000
    with pytest.raises(InterforgeError, match="at least 10"):
        run_in_text(GpumdRun(potentials=["a"], momentum_removal_interval=5))
    with pytest.raises(InterforgeError, match="committee"):
        run_in_text(GpumdRun(potentials=["a"], active_interval=10))
    with pytest.raises(InterforgeError, match="periodic"):
        run_in_text(GpumdRun(potentials=["a"], pbc=(True, True, False)))  # isotropic npt_scr
    with pytest.raises(InterforgeError, match="whitespace"):
        run_in_text(GpumdRun(potentials=["my models/nep.txt"]))
    with pytest.raises(InterforgeError, match="above 0 K"):
        run_in_text(GpumdRun(potentials=["a"], ensemble="nvt", temperature_K=0))


@pytest.mark.parametrize("version,grammar", [("5.6", "5.6"), ("latest", "master")])
def test_run_in_npt_equilibration_block(version, grammar):
    """An NPT run with an equilibration: a first block at T_start with the fast barostat and no output, then the
    run proper with its ramp, barostat and dumps; velocities are drawn once."""
    run = GpumdRun(potentials=["a.txt", "b.txt"], ensemble="npt", temperature_K=300, temperature_end_K=600,
                   steps=20_000, timestep_fs=2.0, barostat_tau_fs=1000, equilibration_steps=500,
                   equilibration_barostat_tau_fs=100, momentum_removal_interval=10, dump_interval=500,
                   thermo_interval=50, active_interval=100, gpumd_version=version)
    lines = check_run_in(run_in_text(run), grammar)
    runs = [i for i, t in enumerate(lines) if t[0] == "run"]
    assert [lines[i] for i in runs] == [["run", "500"], ["run", "20000"]]
    first, second = lines[:runs[0]], lines[runs[0] + 1:runs[1]]
    assert [t[0] for t in first].count("velocity") == 1
    assert not any(t[0].startswith("dump") or t[0] == "active" for t in first)
    for block, (t1, t2, p_coup) in ((first, (300, 300, 50)), (second, (300, 600, 500))):
        ens = next(t for t in block if t[0] == "ensemble")
        assert [float(x) for x in (ens[2], ens[3], ens[-1])] == [t1, t2, p_coup]  # p_coup = tau / dt, steps
        assert ["correct_velocity", "10"] in block and ["time_step", "2"] in block
    assert ["dump_thermo", "50"] in second and any(t[0] == "active" for t in second)
    # an NVT run has nothing to equilibrate the volume of: one block
    nvt = check_run_in(run_in_text(replace(run, ensemble="nvt")), grammar)
    assert [t for t in nvt if t[0] == "run"] == [["run", "20000"]]


def test_gpumd_run_from_section_takes_the_equilibration_in_steps():
    from interforge.config.md import MdSection

    md = MdSection(npt_equilibration_ps=2.0, npt_equilibration_barostat_tau_fs=50.0)
    run = GpumdRun.from_section(md, ["nep.txt"], timestep_fs=0.5)
    assert (run.equilibration_steps, run.equilibration_barostat_tau_fs) == (4000, 50.0)
    assert GpumdRun.from_section(MdSection(npt_equilibration_ps=0.0), ["nep.txt"]).equilibration_steps == 0


def test_dftd3_line():
    run = GpumdRun(potentials=["nep.txt"], ensemble="nvt", dispersion=dict(D3, functional="PBE"))
    lines = check_run_in(run_in_text(run))
    assert ["dftd3", "pbe", "12", "6"] in lines
    assert not any(t[0] == "dftd3" for t in check_run_in(run_in_text(GpumdRun(potentials=["nep.txt"]))))
    with pytest.raises(InterforgeError, match="functional"):
        run_in_text(GpumdRun(potentials=["nep.txt"], dispersion=dict(D3, functional="pbe-d3")))
    with pytest.raises(InterforgeError, match="keys"):
        run_in_text(GpumdRun(potentials=["nep.txt"], dispersion={"functional": "pbe"}))
    with pytest.raises(InterforgeError, match="positive"):
        run_in_text(GpumdRun(potentials=["nep.txt"], dispersion=dict(D3, potential_cutoff=0)))


def test_box_is_triclinic():
    assert not box_is_triclinic(bulk("Cu", "fcc", a=3.6, cubic=True).cell)
    assert box_is_triclinic(bulk("Cu", "fcc", a=3.6).cell)
    assert not box_is_triclinic(np.diag([5.0, 5.0, 5.0]) + 1e-14)  # written as 0 in model.xyz


def test_paper_run_files_parse_under_the_release(tmp_path):
    """`demo --scale paper` writes production run files for the release grammar; hexagonal cells get the
    6-component npt_scr form."""
    from interforge.config import InterforgeConfig
    from interforge.demo.paper import _run_in

    cfg = InterforgeConfig()
    assert cfg.md.gpumd_version == "auto"  # the project default: the release grammar for files written, not run
    for atoms, tri in ((bulk("Zr", "hcp", a=3.23, c=5.15).repeat((2, 2, 2)), True),
                       (bulk("ZrO2", "fluorite", a=5.1, cubic=True), False)):
        names = _run_in(tmp_path, atoms, [300.0, 600.0], lambda t: 0.01, cfg, "isotropic")
        for name in names:
            lines = check_run_in((tmp_path / name).read_text(), "5.6", triclinic=tri)
            ens = next(t for t in lines if t[0] == "ensemble")
            assert len(ens) == (18 if tri else 8)
            assert ["dump_thermo", str(cfg.md.thermo_interval)] in lines
    assert "GPUMD 5.6" in __import__("interforge.demo.paper", fromlist=["_readme"])._readme(
        {"interfaces": [], "bulk": []}, "5.6")


def test_model_xyz(tmp_path):
    from ase.io import read

    atoms = bulk("ZrO2", "fluorite", a=5.1)
    path = write_model_xyz(atoms, tmp_path / "model.xyz", groups=[0, 1, 1])
    header = path.read_text().splitlines()[1]
    assert 'pbc="T T T"' in header and "properties=species:S:1:pos:R:3:mass:R:1:group:I:1" in header
    back = read(path, format="extxyz")
    np.testing.assert_allclose(back.positions, atoms.positions, atol=1e-9)
    np.testing.assert_allclose(back.cell.array, atoms.cell.array)
    assert back.get_chemical_symbols() == ["Zr", "O", "O"]
    with pytest.raises(InterforgeError, match="0 ... N-1"):
        write_model_xyz(atoms, tmp_path / "bad.xyz", groups=[0, 1, 3])


# --------------------------------------------------------------------------------------------------------------
# Stand-in executables: GPUMD 5.6 and master (whose banner also says 5.6)
# --------------------------------------------------------------------------------------------------------------

STAND_IN = '''#!{python}
"""Stand-in for GPUMD {label}: prints its banner, stops without run.in, checks the dump_xyz grammar as {label}
does, and writes 5.6-style outputs."""
import os, sys
print("""{banner}""")
sys.stdout.flush()
if not os.path.isfile("run.in"):
    sys.stderr.write("Input Error:\\n    Error text: Cannot open run.in.\\n")
    sys.exit(1)
with open("run.in") as fh:
    lines = [ln.split() for ln in fh if ln.split()]
with open("runs.log", "a") as fh:
    fh.write(open("run.in").read() + "=====\\n")
nat = int(open("model.xyz").readline())
model = open("model.xyz").read().splitlines()[2:2 + nat]
thermo_every = steps = dump = None
dump_file = "dump.xyz"
for t in lines:
    if t[0] == "dump_thermo":
        thermo_every = int(t[1])
    elif t[0] == "run":
        steps = int(t[1])
    elif t[0] == "dump_xyz":
        ints = [w.lstrip("-").isdigit() for w in t[1:4]]
        if {master}:
            if len(t) >= 4 and ints[1] and ints[2]:
                sys.stderr.write("Error text: dump_xyz no " + "longer takes <grouping_method> <group_id>\\n")
                sys.exit(1)
            dump, dump_file = int(t[1]), t[2]
        else:
            if len(t) < 5:
                sys.stderr.write("Error text: dump_xyz should have at least 4 parameters.\\n")
                sys.exit(1)
            dump, dump_file = int(t[3]), t[4]
with open("thermo.out", "a") as fh:
    fh.write("# dump_thermo %d\\n# format_version 1\\n# num_atoms %d\\n# dt_output 1.0e+00 fs\\n" % (thermo_every, nat))
    fh.write("# columns T KE PE sxx syy szz syz sxz sxy ax ay az bx by bz cx cy cz\\n")
    for k in range(steps // thermo_every):
        fh.write("%20.10e%20.10e%20.10e" % (300 + k, 0.1, -40) + "%20.10e" * 6 % (0, 0, 0, 0, 0, 0)
                 + "%20.10e" * 9 % (5.43, 0, 0, 0, 5.43, 0, 0, 0, 5.43) + "\\n")
with open(dump_file, "a") as fh:
    for k in range(steps // dump):
        fh.write("%d\\nTime=%.8f pbc=\\"T T T\\" Lattice=\\"5.43 0 0 0 5.43 0 0 0 5.43\\" energy=-40.0 "
                 "Properties=species:S:1:pos:R:3:unwrapped_position:R:3\\n" % (nat, (k + 1) * dump))
        for row in model:
            s, x, y, z = row.split()[:4]
            fh.write("%s %s %s %s %s %s %s\\n" % (s, x, y, z, x, y, z))
print("Speed of this run = 1.5e+07 atom*step/second.")
'''


def _stand_in(tmp_path, master=False, marker=False):
    bindir = tmp_path / ("bin-master" if master else "bin-56")
    bindir.mkdir()
    exe = bindir / "gpumd"
    text = STAND_IN.format(python=sys.executable, label="master" if master else "5.6", banner=BANNER_56,
                           master=master)
    if marker:  # a real master build holds this message as a compiled-in string
        text += "# dump_xyz no longer takes <grouping_method> <group_id> as its first two parameters\n"
    exe.write_text(text)
    exe.chmod(0o755)
    return exe


@pytest.fixture
def si_cell(tmp_path):
    path = tmp_path / "si.xyz"
    from ase.io import write

    write(path, bulk("Si", "diamond", a=5.43, cubic=True))
    model = tmp_path / "nep.txt"
    model.write_text("nep4 1 Si\n")
    return path, model


def test_detect_version_from_banner(tmp_path):
    found = detect_gpumd_version(str(_stand_in(tmp_path)))
    assert found.banner == "5.6" and not found.post_release and found.dialect == "5.6"
    master = detect_gpumd_version(str(_stand_in(tmp_path, master=True, marker=True)))
    assert master.banner == "5.6" and master.post_release and master.dialect == "latest"


def test_cli_md_gpumd_writes_the_grammar_of_the_gpumd_on_path(tmp_path, si_cell, monkeypatch):
    """The project default gpumd_version is 'latest'; a gpumd 5.6 on PATH gets 5.6's grammar, the thermo
    interval asked for, and its outputs (5.6's thermo.out header included) are converted."""
    from interforge.cli.main import main

    exe = _stand_in(tmp_path)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    structure, model = si_cell
    import json

    rc = main(["md", str(structure), "--model", str(model), "--engine", "gpumd", "--ensemble", "npt",
               "--temperature", "300", "--steps", "100", "--dump-interval", "10", "--thermo-interval", "5",
               "--out", str(tmp_path / "g"), "--json", str(tmp_path / "g.json"), "--workdir", str(tmp_path)])
    assert rc == 0
    run_dir = tmp_path / "g" / "gpumd"
    runs = (run_dir / "runs.log").read_text().split("=====\n")[:-1]
    assert len(runs) == 1  # no retry needed
    lines = check_run_in(runs[0], "5.6")
    assert ["dump_xyz", "-1", "0", "10", "dump.xyz", "unwrapped_position"] in lines
    assert ["dump_thermo", "5"] in lines
    r = json.loads((tmp_path / "g.json").read_text())
    assert r["engine"] == "gpumd" and r["n_frames"] == 10
    th = read_thermo(r["thermo_path"])
    assert len(th["T_K"]) == 20 and th["step"][0] == 5 and th["T_K"][0] == 300
    assert TrajectoryReader(r["trajectory_path"]).steps()[-1] == 100


def test_run_gpumd_master_without_marker_is_retried(tmp_path, si_cell, monkeypatch):
    """A master build that the executable scan cannot recognise (banner 5.6, e.g. behind a wrapper script)
    rejects the 5.6 dump grammar; run_gpumd rewrites run.in in master's grammar and starts it once more."""
    from ase.io import read

    exe = _stand_in(tmp_path, master=True)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    structure, model = si_cell
    run = GpumdRun(potentials=[str(model)], ensemble="nvt", steps=40, dump_interval=20, thermo_interval=10,
                   gpumd_version=None)
    res = run_gpumd(read(structure), run, tmp_path / "m")
    runs = (tmp_path / "m" / "gpumd" / "runs.log").read_text().split("=====\n")[:-1]
    assert len(runs) == 2
    check_run_in(runs[0], "5.6")
    check_run_in(runs[1], "master")
    assert run.gpumd_version == "latest" and res.n_frames == 2
    # outputs of the rejected start were removed, not appended to
    assert len(read_thermo(res.thermo_path)["T_K"]) == 4


def test_run_gpumd_master_with_marker_needs_no_retry(tmp_path, si_cell, monkeypatch):
    from ase.io import read

    exe = _stand_in(tmp_path, master=True, marker=True)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    structure, model = si_cell
    run = GpumdRun(potentials=[str(model)], ensemble="nvt", steps=40, dump_interval=20, thermo_interval=10,
                   gpumd_version="5.6")  # configured wrongly: the executable decides
    run_gpumd(read(structure), run, tmp_path / "m")
    runs = (tmp_path / "m" / "gpumd" / "runs.log").read_text().split("=====\n")[:-1]
    assert len(runs) == 1
    check_run_in(runs[0], "master")


def test_potential_path_with_spaces_is_staged(tmp_path, si_cell, monkeypatch):
    from ase.io import read

    exe = _stand_in(tmp_path)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    structure, model = si_cell
    spaced = tmp_path / "my models"
    spaced.mkdir()
    (spaced / "nep.txt").write_text(model.read_text())
    run = GpumdRun(potentials=[str(spaced / "nep.txt")], ensemble="nvt", steps=20, dump_interval=10,
                   thermo_interval=10, dispersion=D3)
    run_gpumd(read(structure), run, tmp_path / "s")
    lines = check_run_in((tmp_path / "s" / "gpumd" / "run.in").read_text(), "5.6")
    assert lines[0] == ["potential", "potential_0.txt"] and ["dftd3", "pbe", "12", "6"] in lines
    assert (tmp_path / "s" / "gpumd" / "potential_0.txt").read_text() == model.read_text()


# --------------------------------------------------------------------------------------------------------------
# Output conversion
# --------------------------------------------------------------------------------------------------------------

def _write_fixture(run_dir, unwrapped_column, header):
    """Hand-written GPUMD outputs: 2 atoms in a 10 Å cube; atom 0 moves +x by 2 Å per frame across the box."""
    run_dir.mkdir()
    # thermo.out, 18 columns: T K U Pxx Pyy Pzz Pyz Pxz Pxy ax ay az bx by bz cx cy cz
    rows = []
    for k in range(3):
        L = 10.0 + 0.1 * k
        rows.append([300 + k, 0.07, -10.0 - k, 0.1, 0.2, 0.3, 0, 0, 0, L, 0, 0, 0, L, 0, 0, 0, L])
    head = textwrap.dedent("""\
        dump_thermo 1000
        format_version 1
        num_atoms 2
        dt_output 1.0000000000e+03 fs
        columns T KE PE sxx syy szz syz sxz sxy ax ay az bx by bz cx cy cz""") if header else ""
    np.savetxt(run_dir / "thermo.out", rows, fmt="%20.10e", delimiter="", header=head)
    true = [np.array([[8.0 + 2 * k, 1.0, 1.0], [5.0, 5.0, 5.0]]) for k in range(3)]
    text = []
    for k in range(3):
        wrapped = true[k] % 10.0
        props = "species:S:1:pos:R:3" + (":unwrapped_position:R:3" if unwrapped_column else "")
        text += ["2", f'Time={1000.0 * (k + 1):.8f} pbc="T T T" Lattice="10 0 0 0 10 0 0 0 10" energy=-10.0 '
                      f'Properties={props}']
        for s, w, u in zip(["Li", "Cl"], wrapped, true[k]):
            extra = " ".join(f"{x:.8f}" for x in u) if unwrapped_column else ""
            text.append(f"{s} {w[0]:.8f} {w[1]:.8f} {w[2]:.8f} {extra}")
    (run_dir / "dump.xyz").write_text("\n".join(text) + "\n")
    (run_dir / "active.out").write_text("%20.10e%20.10e\n%20.10e%20.10e\n%20.10e%20.10e\n"
                                        % (1000, 0.25, 2000, 0.5, 3000, 0.125))  # t(fs) sigma_f
    return np.array(true)


@pytest.mark.parametrize("unwrapped_column,header", [(False, False), (True, True)])
def test_convert_outputs(tmp_path, unwrapped_column, header):
    true = _write_fixture(tmp_path / "run", unwrapped_column, header)
    run = GpumdRun(potentials=["a", "b"], timestep_fs=1.0, dump_interval=1000, thermo_interval=1000,
                   gpumd_version="latest" if unwrapped_column else "5.6")
    res = convert_outputs(tmp_path / "run", tmp_path / "out", run)
    traj = TrajectoryReader(res.trajectory_path)
    np.testing.assert_allclose(traj.positions(), true, atol=1e-6)  # unwrapped across the boundary
    assert traj.symbols == ["Li", "Cl"]
    np.testing.assert_allclose(traj.times(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(traj.steps(), [1000, 2000, 3000])
    np.testing.assert_allclose(traj.observable("max_force_deviation"), [0.25, 0.5, 0.125])
    th = read_thermo(res.thermo_path)
    np.testing.assert_allclose(th["T_K"], [300, 301, 302])
    np.testing.assert_allclose(th["P_GPa"], 0.2)
    np.testing.assert_allclose(th["V_A3"], [1000.0, 10.1**3, 10.2**3])
    np.testing.assert_allclose(th["Etot_eV"], [-9.93, -10.93, -11.93])
    assert res.n_frames == 3 and res.n_thermo == 3


def test_convert_outputs_after_an_equilibration_block(tmp_path):
    """active.out carries GPUMD's global time, which counts the equilibration block; the trajectory's frames
    (dumped in the run proper only) must still get the deviation of their own step."""
    _write_fixture(tmp_path / "run", True, True)
    shifted = "".join("%20.10e%20.10e\n" % (500 + t, d) for t, d in ((1000, 0.25), (2000, 0.5), (3000, 0.125)))
    (tmp_path / "run" / "active.out").write_text(shifted)
    run = GpumdRun(potentials=["a", "b"], timestep_fs=1.0, dump_interval=1000, thermo_interval=1000,
                   equilibration_steps=500, gpumd_version="latest")
    traj = TrajectoryReader(convert_outputs(tmp_path / "run", tmp_path / "out", run).trajectory_path)
    np.testing.assert_allclose(traj.times(), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(traj.observable("max_force_deviation"), [0.25, 0.5, 0.125])


def test_thermo_out_12_columns(tmp_path):
    from interforge.md.gpumd import read_thermo_out

    np.savetxt(tmp_path / "thermo.out", [[300, 1, -5, 0, 0, 0, 0, 0, 0, 10, 11, 12]])
    th = read_thermo_out(tmp_path / "thermo.out")
    np.testing.assert_allclose(np.diag(th.cells[0]), [10, 11, 12])
    np.savetxt(tmp_path / "bad.out", [[1, 2, 3]])
    with pytest.raises(InterforgeError, match="columns"):
        read_thermo_out(tmp_path / "bad.out")
