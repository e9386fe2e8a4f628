"""``interforge md STRUCTURE (--model nep.txt | --teacher NAME) --ensemble nvt|npt --temperature T ...``."""

from __future__ import annotations

from pathlib import Path

from interforge.cli.common import config_of, workdir_of
from interforge.errors import InterforgeError


def register(sub, parents):
    p = sub.add_parser("md", parents=parents, help="molecular dynamics (ASE on CPU, or GPUMD)",
                       description="Run NVT/NPT/NVE MD; writes OUT/trajectory.h5 (H5MD) and OUT/thermo.dat. "
                                   "The ASE engine checkpoints OUT/checkpoint.npz; the same command again (after a kill) "
                                   "continues from it.")
    p.add_argument("structure", help="structure file (extxyz, CIF, POSCAR, ...)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", nargs="+", metavar="NEP", help="nep.txt file(s); several make a committee")
    src.add_argument("--teacher", metavar="NAME", help="teacher calculator ('default' = CHGNet + D3(BJ))")
    p.add_argument("--ensemble", choices=["nvt", "npt", "nve"], help="ensemble (default: config [md], npt)")
    p.add_argument("--temperature", type=float, nargs="+", required=True, metavar="K",
                   help="target temperature, K; two values give a linear ramp")
    p.add_argument("--pressure", type=float, metavar="BAR", help="target pressure, bar (default 1)")
    p.add_argument("--steps", type=int, required=True, help="number of MD steps")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--engine", choices=["ase", "gpumd"], help="ase (CPU, default) or gpumd")
    p.add_argument("--timestep", type=float, metavar="FS", help="time step, fs (default 1)")
    p.add_argument("--barostat", choices=["isotropic", "orthorhombic", "normal"], help="SCR coupling mode")
    p.add_argument("--dump-interval", type=int, metavar="N", help="steps between trajectory frames")
    p.add_argument("--thermo-interval", type=int, metavar="N", help="steps between thermo lines")
    p.add_argument("--seed", type=int, help="random seed (velocities, thermostat, barostat)")
    p.add_argument("--checkpoint-interval", type=int, metavar="N",
                   help="steps between checkpoints (ASE engine; default: config [md] checkpoint_interval, at most a "
                        "tenth of the run; 0 = none)")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh in an OUT that holds another run (by default the same command resumes it "
                        "and a different one is refused)")
    p.add_argument("--gpumd-version", default=None, metavar="V",
                   help="run.in grammar when gpumd is not on PATH: e.g. 5.6 (the release), latest (master), auto "
                        "(the newest release); default: config [md] gpumd_version. A gpumd on PATH is asked for "
                        "its version, which decides")
    p.set_defaults(func=run_md_cli)


def _warn_unvalidated(models) -> None:
    import sys

    from interforge.validation import production_check

    for m in models:
        ok, msg = production_check(m)
        if not ok:
            print(f"interforge: warning: {msg}; its results are not validated", file=sys.stderr)


def _calculator(models: list[str] | None, teacher: str | None):
    if teacher:
        from interforge.teacher import make_calculator

        return make_calculator(teacher)
    for m in models:
        if not Path(m).is_file():
            raise InterforgeError(f"model file not found: {m}")
    try:
        from interforge.nep import CommitteeCalculator, NEPCalculator
    except ImportError:
        from calorine.calculators import CPUNEP

        if len(models) > 1:
            raise InterforgeError("committees need interforge.nep (not installed in this build)") from None
        return CPUNEP(models[0])
    return NEPCalculator(models[0]) if len(models) == 1 else CommitteeCalculator(models)


def _read_atoms(path: Path):
    from interforge.structures import read_structure

    atoms = read_structure(path)
    if not hasattr(atoms, "get_positions"):  # a pymatgen Structure
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = AseAtomsAdaptor.get_atoms(atoms)
    return atoms


def ase_md_task(structure: str, models: list[str] | None, teacher: str | None, settings, steps: int, out: str,
                identity: dict) -> dict:
    """One ASE-engine run as a workflow task (module level, so Parsl workers import it): reads the structure,
    builds the calculator where it runs, runs :func:`interforge.md.run_with` with ``settings`` (an
    :class:`~interforge.md.MDSettings`) and returns the result as a dict. Rerun after a kill it resumes from the
    checkpoint (``identity``: what must match for that)."""
    from interforge.md import run_with

    res = run_with(_read_atoms(Path(structure)), _calculator(models, teacher), settings, steps, out, resume=True,
                   identity=identity)
    return res.to_dict()


def gpumd_task(structure: str, run, out: str) -> dict:
    """One GPUMD run as a workflow task (on the node with the GPU)."""
    from interforge.md.gpumd import run_gpumd

    return run_gpumd(_read_atoms(Path(structure)), run, out).to_dict()


OUTPUTS = ("trajectory.h5", "thermo.dat", "checkpoint.npz", "guard_frame.extxyz")


def _claim_output(out: Path, overwrite: bool, resumable: bool) -> None:
    """Make ``out`` ours: with ``overwrite`` clear an earlier run's outputs; otherwise refuse a folder that
    holds a run this command cannot resume (a checkpoint is checked against the request when it is read).
    An NPT run's equilibration stage lives in ``out/equilibration`` and is treated alike."""
    stages = (out, out / "equilibration")
    if overwrite:
        for d in stages:
            for name in OUTPUTS:
                (d / name).unlink(missing_ok=True)
        return
    if resumable and any((d / "checkpoint.npz").is_file() for d in stages):
        return
    found = [str((d / name).relative_to(out)) for d in stages for name in OUTPUTS if (d / name).exists()]
    if found:
        raise InterforgeError(f"{out} already holds an MD run ({', '.join(found)}) that this command cannot resume; "
                              "use --overwrite or another --out")


def _identity(args, structure: Path) -> dict:
    """What decides the run besides the integration settings: the input files' contents (hashes)."""
    import hashlib

    def sha(path) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    calc = {"teacher": args.teacher} if args.teacher else {"models": [sha(m) for m in args.model]}
    return {"structure": sha(structure), "calculator": calc, "engine": "ase"}


def run_md_cli(args):
    from interforge.md import MDSettings
    from interforge.workflow import make_executor

    cfg = config_of(args)
    md = cfg.md
    path = Path(args.structure)
    if not path.is_file():
        raise InterforgeError(f"structure file not found: {path}")
    _read_atoms(path)  # a bad file fails here, not on a worker
    if args.steps < 1:
        raise InterforgeError(f"--steps must be at least 1, got {args.steps}")
    temps = args.temperature
    if len(temps) > 2:
        raise InterforgeError("--temperature takes one value or two (a ramp)")
    ensemble = args.ensemble or md.ensemble
    engine = args.engine or md.engine
    timestep = args.timestep or md.timestep_fs
    pressure = md.pressure_bar if args.pressure is None else args.pressure
    mode = args.barostat or md.barostat_mode
    dump = args.dump_interval or min(md.dump_interval, max(1, args.steps // 10))
    thermo = args.thermo_interval or min(md.thermo_interval, max(1, args.steps // 100))
    out = Path(args.out)
    _claim_output(out, args.overwrite, resumable=engine != "gpumd")
    if args.model:
        _warn_unvalidated(args.model)
    if engine == "gpumd":
        from interforge.md.gpumd import GpumdRun

        from interforge.nep.dispersion import read_dispersion

        if not args.model:
            raise InterforgeError("--engine gpumd needs --model nep.txt")
        disp = {read_dispersion(m) for m in args.model}
        if len(disp) > 1:
            raise InterforgeError("the models disagree on their run-time dispersion (<model>.dispersion.json)")
        disp = disp.pop()
        run = GpumdRun.from_section(md, args.model, ensemble=ensemble, temperature_K=temps[0],
                                    temperature_end_K=temps[-1], steps=args.steps, pressure_bar=pressure,
                                    timestep_fs=timestep, barostat_mode=mode, dump_interval=dump,
                                    thermo_interval=thermo, seed=args.seed,
                                    gpumd_version=args.gpumd_version or md.gpumd_version,
                                    active_interval=dump if len(args.model) > 1 else 0,
                                    dispersion=None if disp is None else disp.calorine())
        task = (gpumd_task, str(path.resolve()), run, str(out.resolve()))
    else:
        every = args.checkpoint_interval
        if every is None:
            every = min(md.checkpoint_interval, max(1, args.steps // 10)) if md.checkpoint_interval else 0
        if every < 0:
            raise InterforgeError(f"--checkpoint-interval must be >= 0, got {every}")
        settings = MDSettings.from_section(md, ensemble=ensemble, temperature_K=temps[0] if len(temps) == 1 else temps,
                                           pressure_bar=pressure, timestep_fs=timestep, dump_interval=dump,
                                           thermo_interval=thermo, seed=args.seed, barostat_mode=mode,
                                           checkpoint_interval=every)
        if settings.ensemble == "npt" and settings.equilibration_steps:
            print(f"NPT: {settings.equilibration_steps} steps of equilibration first (barostat "
                  f"{settings.equilibration_barostat_tau_fs:g} fs, [md] npt_equilibration_ps) in {out / 'equilibration'}")
        models = [str(Path(m).resolve()) for m in args.model] if args.model else None
        task = (ase_md_task, str(path.resolve()), models, args.teacher, settings, args.steps, str(out.resolve()),
                _identity(args, path))
    # Through the configured executor: in this process by default, a Slurm/PBS job with [workflow] executor.
    with make_executor(cfg.workflow, run_dir=workdir_of(args) / cfg.workflow.run_dir) as executor:
        d = executor.submit(*task).result()
    stop = f", stopped by {d['stopped_by']}: {d['stop_message']}" if d["stopped_by"] else ""
    if d["stopped_by"]:  # the run did not do what was asked (the engine logged the reason): scripts must tell
        args.exit_code = 4
    print(f"{d['steps_done']}/{d['steps_requested']} steps, <T> = {d['mean_temperature_K']:.1f} K, "
          f"<V> = {d['mean_volume_A3']:.1f} Å3{stop}")
    print(f"trajectory: {d['trajectory_path']}\nthermo: {d['thermo_path']}")
    return d
