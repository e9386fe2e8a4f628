"""The command line's rules, checked before a verb starts any work (``docs/inputs.md`` lists them).

:func:`validate` runs the rules common to every verb (finite numbers, writable output paths) and then the
verb's own (ranges, input files, sizes). Each raises :class:`~interforge.errors.InputError` with one line
naming the option and the rule; ``interforge.cli.main`` turns it into exit code 2. A 0 is either valid or
refused here, never silently replaced by a default later.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from interforge import checks as C
from interforge.errors import InputError

# -- helpers ----------------------------------------------------------------------------------------------


def _opt(args, dest: str, flag: str | None = None, **bounds):
    """Check the option ``dest`` (skipped when absent or None) against ``bounds`` (see checks.number)."""
    value = getattr(args, dest, None)
    if value is None:
        return None
    name = flag or C.option_name(dest)
    if isinstance(value, (list, tuple)):
        return [C.number(name, v, **bounds) for v in value]
    return C.number(name, value, **bounds)


def _int(args, dest: str, flag: str | None = None, **bounds):
    return _opt(args, dest, flag, integer=True, **bounds)


def nep_file(name: str, path: str, parse: bool = True) -> Path:
    """A NEP potential file: readable, non-empty text whose first word starts with ``nep`` (nep4, nep4_zbl...);
    with ``parse`` also its header and parameter count (:func:`interforge.nep.modelfile.validate_nep_file`)."""
    p = C.input_file(name, path, text=True)
    with open(p, "rb") as fh:
        first = fh.readline(256).split()
    if not first or not first[0].lower().startswith(b"nep"):
        raise InputError(f"{name}: {p} is not a NEP potential file (its first line must start with nep3/nep4/...)")
    if not parse:
        return p
    try:
        from interforge.nep.modelfile import validate_nep_file
    except ImportError:
        return p
    try:
        validate_nep_file(p)  # the header and the parameter count, without loading the model
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - NepFileError and parse errors: a broken model file
        raise InputError(f"{name}: {' '.join(str(err).split())}") from None
    return p


def nep_species(path: str | Path) -> list[str] | None:
    """The species a NEP file's header lists (None when the header cannot be read)."""
    try:
        from interforge.nep.modelfile import validate_nep_file

        return list(validate_nep_file(path).types)
    except Exception:  # noqa: BLE001 - nep_file reports a broken header itself
        return None


def ase_query(name: str, query: str | None) -> None:
    """An ASE database query (``stage=seed,natoms>4``) that ASE can parse."""
    if not query:
        return
    from ase.db.core import parse_selection

    try:
        parse_selection(query)
    except Exception as err:  # noqa: BLE001 - ASE raises ValueError/KeyError/... for broken syntax
        raise InputError(f"{name}: '{query}' is not an ASE database query ({type(err).__name__}: "
                         f"{' '.join(str(err).split())}); e.g. 'stage=seed,natoms>4'") from None


def calculator_importable(name: str, spec: str | None) -> None:
    """``module:factory`` names an importable module and an attribute of it that can be called."""
    if not spec:
        return
    if ":" not in spec:
        raise InputError(f"{name}: must look like module:factory, got '{spec}'")
    import importlib

    mod, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(mod), attr)
    except Exception as err:  # noqa: BLE001 - ImportError, AttributeError, errors of the module itself
        raise InputError(f"{name}: cannot load '{spec}': {type(err).__name__}: {' '.join(str(err).split())}") from None
    if not callable(factory):
        raise InputError(f"{name}: '{spec}' is not callable")


def ase_database(name: str, path: str | Path) -> Path:
    """An existing ASE SQLite database, opened read-only to look: a file that is not SQLite, or an SQLite file
    without ASE's ``systems`` table, is refused (and never modified)."""
    p = C.input_file(name, path, text=False)
    with open(p, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise InputError(f"{name}: {p} is not an SQLite database")
    C.sqlite_is_ase(name, p)
    return p


def teacher_name(name: str, teacher: str) -> str:
    """A teacher name that :func:`interforge.teacher.make_calculator` knows (aliases and registered plug-ins
    included)."""
    from interforge.teacher import teacher_names
    from interforge.teacher.identity import canonical_name

    known = teacher_names()
    if canonical_name(teacher) not in known and teacher.strip().lower() not in known:
        raise InputError(f"{name}: unknown teacher '{teacher}'; choose one of: {', '.join(known)}")
    return teacher


def teacher_ready(name: str, section, executor: str = "local") -> None:
    """The teacher of ``section`` (a TeacherSection) can be built here: a known name, its model file, its
    pseudopotentials, its program. Built once in a throw-away folder; the embedded models (chgnet, sevenn)
    ship with the package and are not loaded here. With a cluster ``executor`` (slurm, pbs) the teacher runs
    elsewhere, so only its name is checked."""
    import os
    import tempfile

    from interforge.errors import InterforgeError
    from interforge.teacher import make_calculator
    from interforge.teacher.identity import canonical_name

    teacher_name(name, section.name)
    kind = canonical_name(section.name)
    if kind in ("chgnet", "sevenn") or executor in ("slurm", "pbs"):
        return
    if kind == "vasp":
        root = os.environ.get("VASP_PP_PATH")
        if not root or not Path(root).is_dir():
            raise InputError(f"{name}: the vasp teacher needs $VASP_PP_PATH (the folder holding "
                             "potpaw_PBE/<element>/POTCAR)")
    with tempfile.TemporaryDirectory(prefix="interforge-teacher-check-") as scratch:
        try:
            make_calculator(section, scratch)
        except InterforgeError as err:
            raise InputError(f"{name}: {err}") from None
        except ImportError as err:
            raise InputError(f"{name}: teacher '{section.name}' is not installed here: {err}") from None


def _project_store(args, name: str = "[data] db") -> None:
    """The configured label store (when --db is not given) lies where it can be written."""
    from interforge.cli.common import config_of, workdir_of

    url = config_of(args).data.db
    if not str(url).strip():
        raise InputError(f"{name}: an empty store path")
    if "://" not in url:
        url = str(workdir_of(args) / url) if not Path(url).is_absolute() else url
    C.store_path(name, url)


def element(name: str, symbol: str) -> str:
    """A chemical element symbol (Li, Cl, ...)."""
    from ase.data import atomic_numbers

    if symbol not in atomic_numbers or symbol == "X":
        raise InputError(f"{name}: '{symbol}' is not a chemical element symbol")
    return symbol


def _supercell(args, dest: str, flag: str) -> list[int]:
    vals = _int(args, dest, flag, ge=1) or [1, 1, 1]
    return vals


# -- rules common to every verb ---------------------------------------------------------------------------


#: Options that name an output file or folder, checked for writability before the work starts.
OUTPUT_FILES = {"json": "--json", "output": "--output", "figure": "--figure"}
OUTPUT_DIRS = {"out": "--out", "write_dir": "--write-dir"}
#: Verbs whose --out names a file (elsewhere --out is a folder).
OUT_IS_A_FILE = {"report"}


def common(args: argparse.Namespace, workdir: Path) -> None:
    """Finite numbers everywhere; --json, --output, --figure writable files; --out, --write-dir, the working
    directory writable folders."""
    bad = C.nonfinite_values(args)
    if bad:
        raise InputError(f"{C.option_name(bad[0])}: must be a finite number, got {getattr(args, bad[0])}")
    for dest in ("json", "output", "figure", "out", "write_dir", "workdir", "config", "db"):
        if getattr(args, dest, None) == "" or (isinstance(getattr(args, dest, None), str)
                                               and not getattr(args, dest).strip()):
            raise InputError(f"{C.option_name(dest)}: an empty path")
    for dest, flag in OUTPUT_FILES.items():
        if getattr(args, dest, None):
            C.output_file(flag, getattr(args, dest))
    for dest, flag in OUTPUT_DIRS.items():
        if getattr(args, dest, None):
            if args.verb in OUT_IS_A_FILE and dest == "out":
                C.output_file(flag, args.out)
            else:
                C.output_dir(flag, getattr(args, dest))
    C.output_dir("--workdir" if getattr(args, "workdir", None) else "working directory", workdir)
    _outputs_are_not_inputs(args)


#: Options that name input files of a verb.
INPUT_OPTIONS = ("structure", "trajectory", "input", "files", "results", "candidates", "model", "init", "config",
                 "db")


def _outputs_are_not_inputs(args) -> None:
    """An output file never replaces one of the command's own input files (`md x.xyz --json x.xyz`)."""
    def resolved(flag: str, value: str) -> Path:
        try:
            return Path(value).resolve()
        except (RuntimeError, OSError) as err:  # a symbolic link loop (RuntimeError before Python 3.13)
            raise InputError(f"{flag}: {value} cannot be resolved ({' '.join(str(err).split())})") from None

    inputs = set()
    for dest in INPUT_OPTIONS:
        value = getattr(args, dest, None)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and v and "://" not in v and Path(v).is_file():
                inputs.add(resolved(C.option_name(dest), v))  # --db: the label store is read (and written) in place
    outs = dict(OUTPUT_FILES)
    if args.verb in OUT_IS_A_FILE:
        outs["out"] = "--out"
    if args.verb == "init":
        outs["path"] = "path"
    written: dict[Path, str] = {}
    for dest, flag in outs.items():
        value = getattr(args, dest, None)
        if value and resolved(flag, value) in inputs:
            raise InputError(f"{flag}: {value} is an input of this command; it would be overwritten")
        if value:
            target = resolved(flag, value)
            if target in written:
                raise InputError(f"{flag}: {value} is also {written[target]}; two outputs of one command need "
                                 "two paths")
            written[target] = flag


# -- per verb ---------------------------------------------------------------------------------------------


def init(args) -> None:
    C.output_file("path", args.path)


def bulk_build(args) -> None:
    from interforge.structures import get_phase
    from interforge.structures.io import structure_format

    sc = _supercell(args, "supercell", "--supercell")
    osc = _supercell(args, "ordering_supercell", "--ordering-supercell")
    structure_format(args.output)
    n0 = len(get_phase(args.name).structure())
    C.atom_count("--ordering-supercell", float(n0) * math.prod(osc))
    C.atom_count("--supercell", float(n0) * math.prod(sc) * math.prod(osc))


def bulk_order(args) -> None:
    from interforge.structures import get_phase

    sc = _supercell(args, "supercell", "--supercell")
    _int(args, "top", ge=1)
    _int(args, "rerank", ge=0)
    _opt(args, "fmax", gt=0)
    if args.rerank and not args.calculator:
        raise InputError("--rerank: needs --calculator")
    calculator_importable("--calculator", args.calculator)
    struct = get_phase(args.name).structure()
    C.atom_count("--supercell", float(len(struct)) * math.prod(sc))
    if args.rerank:
        args._rerank_calculator = rerank_calculator("--calculator", args.calculator, struct)


def rerank_calculator(name: str, spec: str, struct):
    """The ``--calculator`` of `bulk order --rerank`, built and tried once on ``struct`` (a library phase, pymatgen)
    with every partially occupied site filled by its main species: a calculator that cannot handle the phase's
    elements (EMT has no Li) is refused before the orderings are enumerated, not after. Returns the calculator
    (the verb reuses it)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from interforge.cli.bulk import load_calculator
    from interforge.errors import InterforgeError

    try:
        calc = load_calculator(spec)
    except InputError:
        raise
    except InterforgeError as err:
        raise InputError(f"{name}: {' '.join(str(err).split())}") from None
    full = struct.copy()
    for i, site in enumerate(full):
        main = max(site.species.items(), key=lambda kv: kv[1])[0]
        full.replace(i, main, coords=site.frac_coords)
    if hasattr(full, "remove_oxidation_states"):
        full.remove_oxidation_states()
    atoms = AseAtomsAdaptor.get_atoms(full)
    atoms.calc = calc
    try:
        atoms.get_potential_energy()
        atoms.get_forces()
    except Exception as err:  # noqa: BLE001 - any failure of the user's calculator on these elements
        elements = ", ".join(sorted(set(atoms.get_chemical_symbols())))
        raise InputError(f"{name}: {spec} failed on the phase's elements ({elements}): {type(err).__name__}: "
                         f"{' '.join(str(err).split())}") from None
    if hasattr(calc, "reset"):
        calc.reset()
    return calc


def _phase_inputs(flag: str, specs) -> None:
    """Library names are looked up, files read and checked (the structure rules) before any relaxation."""
    from interforge.structures import get_phase, read_structure

    for spec in specs or []:
        p = Path(spec)
        if p.suffix or p.exists():
            read_structure(p, name=flag)
        else:
            get_phase(spec)


def _calculator_spec(args) -> None:
    calculator_importable("--calculator", getattr(args, "calculator", None))


#: Largest search the CLI starts (5x the paper's area): the cost grows steeply with the area (on 2 cores
#: Miller 2 with 200 Å² takes about 20 s, with 1000 Å² about a minute; 2000 Å² runs for many minutes).
MAX_MILLER = 3
MAX_AREA_A2 = 1000.0
#: Largest gap and vacuum of a built interface, Å (taller cells are not interfaces any more).
MAX_GAP_A = 50.0
MAX_VACUUM_A = 1000.0


#: Range of a search's length strain and angle strain, fractions: below 1e-6 no lattice matches (lattice
#: parameters are not known that well; 1e-300 searched for nothing), above 1 (100 %) nothing is a match any more
#: (1e300 listed every pair of supercells as a "match").
MIN_STRAIN = 1e-6
MAX_STRAIN = 1.0


def _search_limits(cfg) -> None:
    """The project file's searches stay within the CLI's limits too ([interfaces], [[structures.interfaces]])."""
    C.number("[interfaces] max_miller", cfg.interfaces.max_miller, le=MAX_MILLER)
    C.number("[interfaces] max_area", cfg.interfaces.max_area, le=MAX_AREA_A2)
    C.number("[interfaces] max_strain", cfg.interfaces.max_strain, ge=MIN_STRAIN, le=MAX_STRAIN)
    C.number("[interfaces] max_angle_strain", cfg.interfaces.max_angle_strain, ge=0, le=MAX_STRAIN)
    for k, spec in enumerate(cfg.structures.interfaces):
        C.number(f"[[structures.interfaces]] {k} max_miller", spec.max_miller, le=MAX_MILLER)
        C.number(f"[[structures.interfaces]] {k} max_area", spec.max_area, le=MAX_AREA_A2)
        C.number(f"[[structures.interfaces]] {k} max_strain", spec.max_strain, ge=MIN_STRAIN, le=MAX_STRAIN)


def interfaces_search(args) -> None:
    from interforge.cli.common import config_of

    _int(args, "max_miller", ge=1, le=MAX_MILLER)
    _opt(args, "max_area", gt=0, le=MAX_AREA_A2)
    if args.max_miller is None or args.max_area is None:
        _search_limits(config_of(args))
    _opt(args, "max_strain", ge=MIN_STRAIN, le=MAX_STRAIN)
    _opt(args, "max_angle_strain", ge=0, le=MAX_STRAIN)
    _calculator_spec(args)
    _phase_inputs("--substrate", args.substrate)
    _phase_inputs("--film", args.film)


#: Largest --registration-grid: N x N film shifts, each one relaxation per candidate.
MAX_REGISTRATION_GRID = 10


def candidates(name: str, path: str) -> list:
    """A candidates file of `interfaces search`: readable JSON whose candidates have finite numbers, integer
    2x2 supercell matrices of non-zero determinant and matched vectors spanning a non-zero area."""
    import numpy as np

    from interforge.errors import InterforgeError
    from interforge.interfaces import read_candidates

    p = C.input_file(name, path, text=True)
    try:
        cands = read_candidates(p)
    except InterforgeError as err:
        raise InputError(f"{name}: {' '.join(str(err).split())}") from None
    except Exception as err:  # noqa: BLE001 - any other shape (a list of numbers, ...) is not a candidates file
        raise InputError(f"{name}: {p} is not a candidates file of `interfaces search` "
                         f"({type(err).__name__}: {' '.join(str(err).split())})") from None
    for c in cands:
        try:
            for key in ("substrate_supercell", "film_supercell"):
                m = np.asarray(getattr(c, key), dtype=float)
                if m.shape != (2, 2) or not np.all(np.isfinite(m)) or np.any(m != np.round(m)):
                    raise InputError(f"{name}: candidate {c.id}: {key} must be a 2x2 integer matrix")
                if abs(round(float(np.linalg.det(m)))) < 1:
                    raise InputError(f"{name}: candidate {c.id}: {key} is singular (determinant 0)")
            for key in ("substrate_vectors", "film_vectors"):
                v = np.asarray(getattr(c, key), dtype=float)
                if v.ndim != 2 or v.shape[0] < 2 or not np.all(np.isfinite(v)):
                    raise InputError(f"{name}: candidate {c.id}: {key} must be two finite vectors")
                a, b = np.zeros(3), np.zeros(3)
                a[:min(3, v.shape[1])], b[:min(3, v.shape[1])] = v[0][:3], v[1][:3]
                if float(np.linalg.norm(np.cross(a, b))) < 1e-6:
                    raise InputError(f"{name}: candidate {c.id}: {key} span no area (parallel or zero vectors)")
        except InputError:
            raise
        except Exception as err:  # noqa: BLE001 - wrong types inside a candidate
            raise InputError(f"{name}: candidate {getattr(c, 'id', '?')} is malformed ({type(err).__name__}: "
                             f"{' '.join(str(err).split())})") from None
    return cands


def interfaces_rank(args) -> None:
    _int(args, "keep", ge=1)
    _int(args, "steps", ge=1)
    _int(args, "registration_grid", ge=1, le=MAX_REGISTRATION_GRID)
    _calculator_spec(args)
    candidates("--candidates", args.candidates)


#: Upper bound of the number density of the solids built here, atoms/Å^3 (ZrO2 0.09, Li2ZrCl6 0.06).
_DENSITY_BOUND = 0.15


def interfaces_build(args) -> None:
    _int(args, "termination", ge=0)
    _opt(args, "lateral", gt=0)
    _int(args, "atoms", ge=1)
    _opt(args, "substrate_thickness", gt=0)
    _opt(args, "film_thickness", gt=0)
    _opt(args, "gap", gt=0, le=MAX_GAP_A)
    _opt(args, "vacuum", ge=0, le=MAX_VACUUM_A)
    _opt(args, "registration", ge=-1e6, le=1e6)
    _opt(args, "strain_partition", ge=0, le=1)
    _calculator_spec(args)
    if args.atoms is not None:
        C.atom_count("--atoms", args.atoms)
    cands = candidates("--candidates", args.candidates)
    cand = next((c for c in cands if c.id == args.id), None) if args.id else (cands[0] if cands else None)
    if cand is None:
        return  # the verb says which id is missing
    import numpy as np

    from interforge.cli.common import config_of

    sec = config_of(args).interfaces
    a, b = (np.asarray(v, dtype=float) for v in cand.substrate_vectors[:2])
    area = float(np.linalg.norm(np.cross(a, b)))  # Å^2 of one matched cell
    per_A = area * _DENSITY_BOUND  # atoms per Å of height, at most
    t_s = args.substrate_thickness if args.substrate_thickness is not None else sec.substrate_thickness
    t_f = args.film_thickness if args.film_thickness is not None else sec.film_thickness
    C.atom_count("--substrate-thickness", per_A * t_s)
    C.atom_count("--film-thickness", per_A * t_f)
    if args.lateral is not None:
        m1, m2 = (max(1, round(args.lateral / float(np.linalg.norm(v)))) for v in (a, b))
        C.atom_count("--lateral", per_A * (t_s + t_f) * m1 * m2)


def _finite_labels(name: str, atoms) -> None:
    """The energy, forces and stress a frame carries are finite (a NaN label would poison training)."""
    import numpy as np

    results = getattr(atoms.calc, "results", None) or {}
    for key in ("energy", "free_energy", "forces", "stress"):
        value = results.get(key)
        if value is None:
            continue
        try:
            ok = bool(np.all(np.isfinite(np.asarray(value, dtype=float))))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InputError(f"{name}: its {key} holds NaN or inf")
    for key, value in atoms.arrays.items():
        if key in ("forces", "force") and not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise InputError(f"{name}: its {key} hold NaN or inf")


def data_import(args) -> None:
    from ase.io import iread

    for f in args.files:
        p = C.structure_file("files", f)
        try:  # labelled frames may sit close together (training data), but must be finite and periodic-sane
            for k, atoms in enumerate(iread(str(p), index=":")):
                C.structure(f"{p} frame {k}", atoms, check_contacts=False)
                _finite_labels(f"{p} frame {k}", atoms)
        except InputError:
            raise
        except Exception:  # noqa: BLE001 - the store's reader reports unreadable files itself
            pass
    if args.db:
        C.store_path("--db", args.db)
    else:
        _project_store(args)


def _store_option(args) -> None:
    """--db (else the project's store) of a verb that reads the store: not locked by another process."""
    from interforge.cli.common import config_of, workdir_of

    url = args.db or config_of(args).data.db
    if not str(url).strip():
        raise InputError(f"{'--db' if args.db else '[data] db'}: an empty store path")
    if "://" in url:
        return
    p = Path(url)
    if not args.db and not p.is_absolute():
        p = workdir_of(args) / p
    name = "--db" if args.db else "[data] db"
    if p.exists() and not p.is_file():
        raise InputError(f"{name}: {p} is {'a directory' if p.is_dir() else 'not a regular file'}, not an SQLite "
                         "store")
    C.store_not_locked(name, p)


def data_export(args) -> None:
    _opt(args, "test_fraction", ge=0, lt=1)
    ase_query("--query", args.query)
    _store_option(args)


def data_stats(args) -> None:
    _store_option(args)


def label(args) -> None:
    p = Path(args.input)
    if p.suffix in (".db", ".sqlite"):
        ase_database("input", p)
    else:
        C.structure_file("input", p)
    if args.query and p.suffix not in (".db", ".sqlite"):
        raise InputError(f"--query: selects rows of an ASE database input, but {p} is a structure file")
    ase_query("--query", args.query)
    if args.teacher:
        teacher_name("--teacher", args.teacher)
    if args.model:
        C.input_file("--model", args.model)
    from interforge.config.workflow import MAX_WORKERS

    _int(args, "workers", ge=1, le=MAX_WORKERS)
    _int(args, "iteration", ge=0, le=MAX_SEED)  # stored as a 64-bit integer
    if args.db:
        C.store_path("--db", args.db)
    else:
        _project_store(args)
    from interforge.cli.common import config_of

    section = config_of(args).teacher.model_copy()
    if args.teacher:
        section.name = args.teacher
    if args.model:
        section.model_path = args.model
    teacher_ready("--teacher" if args.teacher else "[teacher]", section,
                  args.executor or config_of(args).workflow.executor)
    _label_species(args, p, section)


def _label_species(args, p: Path, section) -> None:
    """A NEP teacher knows every element of a structure-file input (else every label fails, exit 5)."""
    from interforge.teacher.identity import canonical_name

    model = getattr(section, "model_path", None)
    if canonical_name(section.name) not in ("nep",) or not model or p.suffix in (".db", ".sqlite"):
        return
    species = nep_species(model)
    if not species:
        return
    from ase.io import iread

    seen: set[str] = set()
    try:
        for atoms in iread(str(p), index=":"):
            seen |= set(atoms.get_chemical_symbols())
    except Exception:  # noqa: BLE001 - the labeller reports unreadable frames itself
        return
    missing = sorted(seen - set(species))
    if missing:
        raise InputError(f"input: {p} holds {', '.join(missing)}, for which the nep teacher {model} has no "
                         f"parameters (it knows {', '.join(species)})")


def train(args) -> None:
    from interforge.config.nep import MAX_COMMITTEE
    from interforge.config.workflow import MAX_WORKERS

    _int(args, "committee", ge=1, le=MAX_COMMITTEE)
    _int(args, "generation", ge=1, le=MAX_GENERATION)
    _opt(args, "test_fraction", ge=0, lt=1)
    _int(args, "parallel", ge=1, le=MAX_WORKERS)
    if args.init:
        nep_file("--init", args.init)
    if args.db and "://" not in args.db:
        p = Path(args.db)
        if p.suffix.lower() in (".xyz", ".extxyz"):
            C.structure_file("--db", p)
        elif p.suffix.lower() in (".db", ".sqlite"):
            C.input_file("--db", p, text=False)
            C.store_not_locked("--db", p)


def _project_teacher(args) -> None:
    from interforge.cli.common import config_of

    cfg = config_of(args)
    teacher_ready("[teacher]", cfg.teacher, cfg.workflow.executor)


def project_phases(cfg) -> None:
    """Every library phase a project file names exists: ``[structures] phases``, ``[validation] phases``,
    ``[production] bulk_phases``, and the sides of ``[interfaces]`` and ``[[structures.interfaces]]`` that are
    names rather than files (no suffix, no folder). A typo used to surface only after the first stages ran and
    wrote their files."""
    from interforge.errors import StructureError
    from interforge.structures import get_phase

    lists = [("[structures] phases", cfg.structures.phases), ("[validation] phases", cfg.validation.phases or []),
             ("[production] bulk_phases", cfg.production.bulk_phases),
             ("[interfaces] substrates", cfg.interfaces.substrates), ("[interfaces] films", cfg.interfaces.films)]
    for k, spec in enumerate(cfg.structures.interfaces):
        lists += [(f"[[structures.interfaces]] {k} substrate", [spec.substrate]),
                  (f"[[structures.interfaces]] {k} film", [spec.film])]
    for key, names in lists:
        for name in names:
            if key.startswith(("[interfaces]", "[[structures")) and (Path(name).suffix or "/" in name):
                continue  # a structure file: read and checked by the verb
            try:
                get_phase(name)
            except StructureError as err:
                raise InputError(f"{key}: {' '.join(str(err).split())}") from None


def validation_plan(cfg) -> None:
    """The validation gates have something to run on: gate temperatures (``[validation] temperatures_K``, else
    ``[production] bulk_temperatures_K``) and phases (``[validation] phases``, else ``[production] bulk_phases``).
    With both lists of a pair empty the validator failed after loading the model and the teacher."""
    if not cfg.gate_temperatures_K:
        raise InputError("[validation] temperatures_K: empty, and so is [production] bulk_temperatures_K; the "
                         "validation gates need at least one temperature")
    if not cfg.gate_phases:
        raise InputError("[validation] phases: empty, and so is [production] bulk_phases; the validation gates need "
                         "at least one phase")


def seed(args) -> None:
    from interforge.cli.common import config_of

    _project_store(args)
    _project_teacher(args)
    _search_limits(config_of(args))
    project_phases(config_of(args))


def learn(args) -> None:
    from interforge.cli.common import config_of

    _int(args, "max_iterations", ge=1)
    _project_store(args)
    _project_teacher(args)
    _search_limits(config_of(args))
    project_phases(config_of(args))


def demo(args) -> None:
    """`demo --config FILE`: the embedded scale's settings with the file's keys on top name known phases and
    keep the search limits."""
    if not getattr(args, "config", None):
        return
    from interforge.cli.demo import demo_config_with

    cfg = demo_config_with(args.scale, args.config)
    _search_limits(cfg)
    project_phases(cfg)
    if args.scale != "paper":  # the paper scale writes inputs only
        validation_plan(cfg)


def _project_elements(args) -> set[str]:
    """Elements of the project's library phases and interface sides (files and unknown names are skipped:
    the verb reports them)."""
    from interforge.cli.common import config_of
    from interforge.structures import get_phase

    cfg = config_of(args)
    names = list(cfg.structures.phases)
    for spec in cfg.structures.interfaces:
        names += [getattr(spec, "substrate", None), getattr(spec, "film", None)]
    out: set[str] = set()
    for n in names:
        if not isinstance(n, str):
            continue
        try:
            st = get_phase(n).structure()
            if hasattr(st, "get_chemical_symbols"):
                out |= set(st.get_chemical_symbols())
            else:  # a pymatgen Structure (oxidation states and partial occupancies)
                out |= {str(e.symbol) for e in st.composition.element_composition.elements}
        except Exception:  # noqa: BLE001
            continue
    return out


def validate_verb(args) -> None:
    from interforge.cli.common import config_of

    nep_file("--model", args.model)
    project_phases(config_of(args))
    validation_plan(config_of(args))
    species = nep_species(args.model)
    if species:
        missing = sorted(_project_elements(args) - set(species))
        if missing:
            raise InputError(f"--model: {args.model} has no parameters for {', '.join(missing)} (it knows "
                             f"{', '.join(species)}), which the project's structures hold")
    _project_teacher(args)


#: Upper bounds of `md` (beyond them the dynamics are meaningless or overflow): 10^5 K, 10^7 bar (1 TPa),
#: 10^10 steps, a 64-bit seed.
from interforge.config import MAX_SEED, MAX_TEMPERATURE_K  # noqa: E402 - the project file's bounds too

MAX_PRESSURE_BAR = 1e7
MAX_STEPS = 10**10
#: Largest MD time step, fs (1e308 ran to NaN velocities with exit 0; atomistic MD uses 0.5-5 fs).
MAX_TIMESTEP_FS = 20.0
#: Largest --generation of `train` (GPUMD's default is 10^5, the paper's runs 10^6).
MAX_GENERATION = 10**8


def md(args) -> None:
    from interforge.cli.common import config_of
    from interforge.structures import read_structure

    temps = _opt(args, "temperature", gt=0, le=MAX_TEMPERATURE_K)
    if temps is not None and len(temps) > 2:
        raise InputError(f"--temperature: takes one value or two (a ramp), got {len(temps)}")
    _opt(args, "pressure", ge=-MAX_PRESSURE_BAR, le=MAX_PRESSURE_BAR)
    _int(args, "steps", ge=1, le=MAX_STEPS)
    _opt(args, "timestep", gt=0, le=MAX_TIMESTEP_FS)
    _int(args, "dump_interval", ge=1)
    _int(args, "thermo_interval", ge=1)
    _int(args, "checkpoint_interval", ge=0)
    _int(args, "seed", ge=0, le=MAX_SEED)
    if args.model:
        engine = args.engine or config_of(args).md.engine
        for m in args.model:
            nep_file("--model", m, parse=engine != "gpumd")  # GPUMD reads the model itself
    if args.teacher:
        from interforge.config.teacher import TeacherSection

        teacher_ready("--teacher", TeacherSection(name=args.teacher))
    if getattr(args, "gpumd_version", None):
        from interforge.md.gpumd import parse_version

        try:
            parse_version(args.gpumd_version)
        except InputError:
            raise
        except Exception as err:  # noqa: BLE001 - its own one-line message
            raise InputError(f"--gpumd-version: {err}") from None
    atoms = read_structure(args.structure, name="structure")
    if atoms.cell.rank < 3:
        raise InputError(f"structure: {args.structure} has no cell ({atoms.cell.rank} of 3 cell vectors); MD here "
                         "needs a 3D cell")
    if "occupancy" in atoms.info and any(
            any(float(v) < 0.999 for v in occ.values()) for occ in atoms.info["occupancy"].values()):
        raise InputError(f"structure: {args.structure} has partial occupancies; order it first "
                         "(`interforge bulk build --ordered`)")
    from interforge.md.guards import Guards, require_start

    md_section = config_of(args).md
    # the engine refuses it too (Dynamics), but only after the calculator is built and OUT claimed
    require_start(Guards.from_section(md_section), atoms, name="structure")
    if (args.engine or md_section.engine) != "gpumd":  # the ASE engine's own rules (npt needs 3D periodicity, ...)
        from interforge.errors import InterforgeError
        from interforge.md import MDSettings

        try:
            MDSettings(ensemble=args.ensemble or md_section.ensemble,
                       barostat_mode=args.barostat or md_section.barostat_mode).check(atoms)
        except InterforgeError as err:
            raise InputError(f"structure: {' '.join(str(err).split())}") from None
    if args.model:
        kinds = {m: nep_species(m) for m in args.model}
        known = [tuple(sorted(v)) for v in kinds.values() if v]
        if len(set(known)) > 1:
            raise InputError(f"--model: the committee members know different species: "
                             f"{'; '.join(f'{m}: {chr(44).join(v or [])}' for m, v in kinds.items())}")
        if known:
            missing = sorted(set(atoms.get_chemical_symbols()) - set(known[0]))
            if missing:
                raise InputError(f"structure: holds {', '.join(missing)}, for which {args.model[0]} has no "
                                 f"parameters (it knows {', '.join(known[0])})")


_TIME_KEY = re.compile(rb"(?:^|\s)(?:time_ps|Time_ps)=\s*\"?([-+0-9.eE]+|nan|inf)", re.IGNORECASE)


def file_frame_times(path: Path) -> list[float] | None:
    """The frame times a trajectory file carries itself, ps (H5MD datasets, ``time_ps=`` in extended XYZ
    comment lines), or None when it carries none (XDATCAR, LAMMPS dumps, plain XYZ, ...)."""
    import numpy as np

    suffix = path.suffix.lower()
    if suffix in (".h5", ".h5md", ".hdf5"):
        try:
            from interforge.trajectory import TrajectoryReader

            return [float(t) for t in np.asarray(TrajectoryReader(path).times(), dtype=float)]
        except Exception:  # noqa: BLE001 - an unreadable file is reported by the reader itself
            return None
    if suffix not in (".xyz", ".extxyz"):
        return None
    times: list[float] = []
    with open(path, "rb") as fh:
        while True:
            header = fh.readline()
            if not header:
                break
            if not header.strip():
                continue
            try:
                n = int(header.split()[0])
            except ValueError:
                return None
            m = _TIME_KEY.search(fh.readline())
            if m is None:
                return None
            times.append(float(m.group(1)))
            for _ in range(n):
                fh.readline()
    return times or None


def analyze(args) -> None:
    import numpy as np

    p = Path(args.trajectory)
    if p.suffix.lower() in (".db", ".sqlite"):
        ase_database("trajectory", p)  # ASE would add its tables to any other SQLite file
    else:
        C.structure_file("trajectory", p)
    _opt(args, "dt_ps", "--dt-ps", ge=MIN_DT_PS, le=MAX_DT_PS)
    _opt(args, "temperature_K", "--temperature-K", gt=0, le=MAX_TEMPERATURE_K)
    _opt(args, "equilibration_ps", "--equilibration-ps", ge=0)
    for sp in args.species or []:
        element("--species", sp)
    for an in args.anions or []:
        element("--anions", an)
    if args.dt_ps is not None:
        times = file_frame_times(p)
        if times is not None and len(times) > 1:
            steps = np.diff(np.asarray(times))
            if not np.allclose(steps, args.dt_ps, rtol=1e-3, atol=1e-9):
                raise InputError(f"--dt-ps: {args.dt_ps:g} ps contradicts the frame times of {p} "
                                 f"({float(np.median(steps)):g} ps apart); leave --dt-ps out for files that carry times")


def trajectory(name: str, traj) -> None:
    """A trajectory as read (interforge.analysis Trajectory): finite positions, cells and times, no singular
    cell, times increasing."""
    import numpy as np

    if not np.all(np.isfinite(traj.positions)):
        frame = int(np.argwhere(~np.isfinite(traj.positions).all(axis=(1, 2)))[0, 0])
        raise InputError(f"{name}: frame {frame} holds a NaN or inf position")
    if not np.all(np.isfinite(traj.cells)):
        raise InputError(f"{name}: a cell holds NaN or inf")
    if np.any(np.abs(np.linalg.det(traj.cells)) < 1e-6):
        raise InputError(f"{name}: a frame has a singular cell (volume 0)")
    if len(traj.cells):
        cells = np.asarray(traj.cells, dtype=float)
        vol = np.abs(np.linalg.det(cells))
        heights = np.stack([vol / np.linalg.norm(np.cross(cells[:, (i + 1) % 3], cells[:, (i + 2) % 3]), axis=1)
                            for i in range(3)], axis=1)
        if heights.min() < C.MIN_CELL_HEIGHT_A:
            frame = int(np.argwhere(heights < C.MIN_CELL_HEIGHT_A)[0, 0])
            raise InputError(f"{name}: frame {frame}: the cell is only {heights[frame].min():.3g} Å thick across a "
                             f"periodic vector (at least {C.MIN_CELL_HEIGHT_A:g} Å)")
        if traj.n_atoms and vol.min() / traj.n_atoms < C.MIN_VOLUME_PER_ATOM_A3:
            raise InputError(f"{name}: frame {int(np.argmin(vol))}: {vol.min() / traj.n_atoms:.3g} Å³ per atom is "
                             f"denser than any solid (at least {C.MIN_VOLUME_PER_ATOM_A3:g} Å³ per atom)")
    t = np.asarray(traj.times_ps, dtype=float)
    if not np.all(np.isfinite(t)) or (len(t) > 1 and np.any(np.diff(t) <= 0)):
        raise InputError(f"{name}: the frame times are not finite and increasing")


#: Range of `analyze --dt-ps`, ps: from 0.01 fs (below any MD time step; 1e-300 gave D = nan with exit 0) to a
#: microsecond between frames (1e308 overflowed the frame times).
MIN_DT_PS = 1e-5
MAX_DT_PS = 1e6

#: Fewest frames a diffusion fit takes (interforge.analysis.diffusion.fit_window).
MIN_ANALYSIS_FRAMES = 4


def analysable(name: str, traj, species: str, equilibration_ps: float | None,
               equilibration_name: str = "--equilibration-ps") -> None:
    """A trajectory `analyze` can work on: :func:`trajectory`, at least :data:`MIN_ANALYSIS_FRAMES` frames left
    after the first ``equilibration_ps`` ps (ps) are discarded, and atoms of the mobile ``species``."""
    import numpy as np

    trajectory(name, traj)
    t = np.asarray(traj.times_ps, dtype=float)
    n = len(t)
    if equilibration_ps and n:
        n = int(np.count_nonzero(t >= t[0] + equilibration_ps - 1e-9))
        if n < MIN_ANALYSIS_FRAMES:
            raise InputError(f"{equilibration_name}: only {n} frames of {traj.path} are left after discarding "
                             f"{equilibration_ps:g} ps of a {t[-1] - t[0]:g} ps run; a diffusion fit needs "
                             f"{MIN_ANALYSIS_FRAMES}")
    if n < MIN_ANALYSIS_FRAMES:
        raise InputError(f"{name}: {traj.path} holds {n} frame(s); a diffusion fit needs at least "
                         f"{MIN_ANALYSIS_FRAMES}")
    if len(traj.indices(species)) == 0:
        present = ", ".join(sorted(set(traj.symbols)))
        raise InputError(f"--species: no {species} atoms in {traj.path} (it holds {present})")


def _finite(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))


def analysis_result_problem(data, species: str | None = None, for_fit: bool = True) -> str | None:
    """What makes ``data`` (a results.json of `analyze`, parsed) unusable, or None.

    ``for_fit`` (an Arrhenius fit): ``temperature_K`` (when given) a finite number > 0 K and <= 10^5 K; the
    diffusion entry of ``species`` (default: the file's own species) an object whose ``D_cm2_s`` is a finite
    number > 0 cm²/s (ln D is fitted) and whose ``D_err_cm2_s`` is a finite number >= 0 or null (NaN passes
    JSON, Python writes it, so it is checked here). Without ``for_fit`` (a report, which shows a noisy negative or
    NaN D as it is) these only have to be numbers (or null), not strings, lists or objects."""
    if not isinstance(data, dict):
        return "not a results file of `interforge analyze` (a JSON object)"

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    t = data.get("temperature_K")
    if t is not None and not number(t):
        return f"temperature_K must be a number (K), got {t!r}"
    if for_fit and t is not None and not (_finite(t) and 0 < t <= MAX_TEMPERATURE_K):
        return f"temperature_K must be a number > 0 K and <= {MAX_TEMPERATURE_K:g} K, got {t!r}"
    diffusion = data.get("diffusion")
    sp = species or data.get("species")
    if not isinstance(diffusion, dict) or not isinstance(sp, str) or sp not in diffusion:
        return None
    d = diffusion[sp]
    if not isinstance(d, dict):
        return f"diffusion.{sp} is not an object"
    D, err = d.get("D_cm2_s"), d.get("D_err_cm2_s")
    for key, v in (("D_cm2_s", D), ("D_err_cm2_s", err)):
        if v is not None and not number(v):
            return f"diffusion.{sp}.{key} must be a number (cm²/s), got {v!r}"
    if for_fit:
        if not (_finite(D) and D > 0):
            return f"diffusion.{sp}.D_cm2_s must be a finite number > 0 cm²/s for an Arrhenius fit (ln D is fitted), got {D!r}"
        if err is not None and not (_finite(err) and err >= 0):
            return f"diffusion.{sp}.D_err_cm2_s must be a finite number >= 0 or null, got {err!r}"
    return None


def arrhenius(args) -> None:
    import json

    from interforge.cli.common import config_of

    _opt(args, "T_K", "--T-K", gt=0, le=MAX_TEMPERATURE_K)
    analysis = config_of(args).analysis
    lo, hi = analysis.arrhenius_T_min, analysis.arrhenius_T_max  # results outside are left out, not fitted
    temps = []
    for r in args.results:
        p = C.input_file("results", r, text=True)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(f"results: {p} is not JSON ({err})") from None
        if not isinstance(data, dict):
            raise InputError(f"results: {p} is not a results file of `interforge analyze` (a JSON object)")
        problem = analysis_result_problem(data, args.species, for_fit=False)
        t = data.get("temperature_K")
        if problem is None and t is not None and not (_finite(t) and 0 < t <= MAX_TEMPERATURE_K):
            problem = f"temperature_K must be a number > 0 K and <= {MAX_TEMPERATURE_K:g} K, got {t!r}"
        if problem is None and t is not None and lo - 1e-9 <= t <= hi + 1e-9:  # fitted: ln D must exist
            problem = analysis_result_problem(data, args.species, for_fit=True)
        if problem:
            raise InputError(f"results: {p}: {problem}")
        temps.append(t)
    known = {float(t) for t in temps if isinstance(t, (int, float)) and not isinstance(t, bool)}
    if len(args.results) > 1 and len(known) == 1:
        raise InputError(f"results: all {len(args.results)} results are at {known.pop():g} K; an Arrhenius fit needs "
                         "at least two different temperatures")


def report(args) -> None:
    p = Path(args.folder)
    if not p.is_dir():
        raise InputError(f"DIR: {p} is {'not a folder' if p.exists() else 'not found'}")
    out = Path(args.out) if args.out else p / "report.html"
    if out.is_file() and out.stat().st_size > 0:  # replace an earlier page, never a results file the page reads
        with open(out, "rb") as fh:
            head = fh.read(512).lower()
        if b"<html" not in head and b"<!doctype html" not in head:
            raise InputError(f"--out: {out} exists and is not an HTML page (a results file?); it would be "
                             "overwritten; name a new file")


#: (verb, action) -> the verb's rules.
RULES = {
    ("init", None): init,
    ("bulk", "build"): bulk_build,
    ("bulk", "order"): bulk_order,
    ("interfaces", "search"): interfaces_search,
    ("interfaces", "rank"): interfaces_rank,
    ("interfaces", "build"): interfaces_build,
    ("data", "import"): data_import,
    ("data", "export"): data_export,
    ("data", "stats"): data_stats,
    ("label", None): label,
    ("train", None): train,
    ("seed", None): seed,
    ("learn", None): learn,
    ("validate", None): validate_verb,
    ("md", None): md,
    ("analyze", None): analyze,
    ("arrhenius", None): arrhenius,
    ("report", None): report,
    ("demo", None): demo,
}


def validate(args: argparse.Namespace, workdir: Path) -> None:
    """Every rule of the parsed command line ``args`` (working directory ``workdir``), before the verb runs."""
    common(args, workdir)
    action = next((getattr(args, k) for k in ("bulk_verb", "interfaces_verb", "data_verb") if getattr(args, k, None)),
                  None)
    rule = RULES.get((args.verb, action))
    if rule is not None:
        rule(args)
