"""``interforge bulk list|build|order``: the bulk phase library."""

from __future__ import annotations

import importlib

from interforge.cli.common import print_table
from interforge.errors import InterforgeError
from interforge.structures import build_bulk, enumerate_orderings, get_phase, list_phases, write_structure


def register(sub, parents):
    p = sub.add_parser("bulk", help="bulk phase library: list, build, order", description="The bulk phase library.")
    bsub = p.add_subparsers(dest="bulk_verb", metavar="ACTION", required=True)

    lp = bsub.add_parser("list", parents=parents, help="list the phases with provenance")
    lp.set_defaults(func=run_list)

    bp = bsub.add_parser("build", parents=parents, help="write a phase (ordered, replicated) to CIF/extxyz/POSCAR")
    bp.add_argument("name", help="phase name or alias (see `bulk list`)")
    bp.add_argument("--ordered", action="store_true", help="replace partial occupancies by the lowest-Ewald ordering")
    bp.add_argument("--supercell", nargs=3, type=int, default=[1, 1, 1], metavar=("A", "B", "C"), help="repeat the cell")
    bp.add_argument("--ordering-supercell", nargs=3, type=int, default=[1, 1, 1], metavar=("A", "B", "C"),
                    help="supercell in which orderings are enumerated (default 1 1 1)")
    bp.add_argument("-o", "--output", required=True, help="output file: .cif, .xyz/.extxyz, .vasp or POSCAR")
    bp.set_defaults(func=run_build)

    op = bsub.add_parser("order", parents=parents, help="rank symmetry-distinct orderings of partial occupancies")
    op.add_argument("name", help="phase name or alias")
    op.add_argument("--supercell", nargs=3, type=int, default=[1, 1, 1], metavar=("A", "B", "C"))
    op.add_argument("--top", type=int, default=10, help="how many orderings to list (default 10)")
    op.add_argument("--rerank", type=int, default=0, metavar="K", help="re-rank the K best by relaxed energy")
    op.add_argument("--calculator", metavar="MODULE:FACTORY",
                    help="ASE calculator for --rerank, e.g. ase.calculators.emt:EMT")
    op.add_argument("--fmax", type=float, default=0.05, help="relaxation force criterion, eV/Å")
    op.add_argument("--write-dir", metavar="DIR", help="write the listed orderings as extxyz files into DIR")
    op.set_defaults(func=run_order)


def run_list(args):
    rows = [p.summary() for p in list_phases()]
    print_table(rows, ["name", "formula", "spacegroup", "spacegroup_number", "ordered", "status", "paper_id"])
    return {"phases": rows}


def run_build(args):
    struct, ordering = build_bulk(args.name, ordered=args.ordered, supercell=args.supercell,
                                  ordering_supercell=args.ordering_supercell)
    path = write_structure(struct, args.output)
    print(f"wrote {path} ({struct.composition.formula}, {len(struct)} sites)")
    result = {"name": get_phase(args.name).name, "output": str(path.resolve()), "formula": struct.composition.formula,
              "n_sites": len(struct), "ordered": struct.is_ordered}
    if ordering is not None:
        result["ordering"] = ordering.summary()
    return result


def load_calculator(spec: str):
    """An ASE calculator from 'module:factory' (called without arguments)."""
    module, _, attr = spec.partition(":")
    if not attr:
        raise InterforgeError(f"--calculator must look like module:factory, got '{spec}'")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise InterforgeError(f"cannot load calculator '{spec}': {err}") from None
    if not callable(factory):
        raise InterforgeError(f"--calculator: '{spec}' is not a callable factory")
    try:
        calc = factory()
    except Exception as err:  # noqa: BLE001 - the user's factory failing is a bad input
        raise InterforgeError(f"--calculator: {spec}() failed: {type(err).__name__}: {err}") from None
    if not hasattr(calc, "get_potential_energy") and not hasattr(calc, "calculate"):
        raise InterforgeError(f"--calculator: {spec}() did not return an ASE calculator")
    return calc


def run_order(args):
    from pathlib import Path

    from interforge.structures import rerank_by_relaxation

    phase = get_phase(args.name)
    orderings = enumerate_orderings(phase.structure(), args.supercell)
    if args.rerank:
        if not args.calculator:
            raise InterforgeError("--rerank needs --calculator")
        # built and tried on the phase's elements by the input checks (cli.checks.rerank_calculator)
        calc = getattr(args, "_rerank_calculator", None) or load_calculator(args.calculator)
        try:
            orderings = rerank_by_relaxation(orderings, calc, args.rerank, fmax=args.fmax)
        except InterforgeError:
            raise
        except Exception as err:  # noqa: BLE001 - a calculator that cannot handle these atoms is a bad choice
            raise InterforgeError(f"--calculator {args.calculator} failed on the orderings: "
                                  f"{type(err).__name__}: {err}") from None
    shown = orderings[: args.top]
    rows = [o.summary() for o in shown]
    print(f"{phase.name}: {len(orderings)} symmetry-distinct orderings in supercell {tuple(args.supercell)}")
    print_table(rows, ["rank", "ewald_energy_per_atom_eV", "multiplicity", "relaxed_energy_per_atom_eV"])
    if args.write_dir:
        for o in shown:
            o_path = Path(args.write_dir) / f"{phase.name}_ordering_{o.rank:03d}.xyz"
            write_structure(o.structure, o_path)
            rows[o.rank]["file"] = str(o_path.resolve())
    return {"name": phase.name, "supercell": args.supercell, "n_distinct": len(orderings), "orderings": rows}
