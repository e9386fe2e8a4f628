"""``interforge interfaces search|rank|build``: lattice-matched heterointerfaces."""

from __future__ import annotations

from pathlib import Path

from interforge.cli.common import config_of, print_table, workdir_of
from interforge.errors import InterforgeError


def _section(args):
    from interforge.config.interfaces import InterfacesSection

    return getattr(config_of(args), "interfaces", None) or InterfacesSection()


def _calculator(args):
    """(calculator, identity): --calculator module:factory, else the configured teacher (imported lazily)."""
    if getattr(args, "calculator", None):
        from interforge.cli.bulk import load_calculator

        return load_calculator(args.calculator), f"factory:{args.calculator}"
    try:
        from interforge.teacher import make_calculator
        from interforge.teacher.identity import teacher_identity
    except ImportError as err:
        raise InterforgeError(f"no teacher available ({err}); pass --calculator or --lattices experimental") from None
    section = config_of(args).teacher
    ident = teacher_identity(section)
    return make_calculator(section), f"teacher:{ident.name}:{ident.hash}"


def _bulks(args, sec, names):
    from interforge.interfaces import prepare_bulk

    lattices = args.lattices or sec.lattices
    calc, ident = _calculator(args) if lattices == "teacher" else (None, None)
    cache = workdir_of(args) / "cache" / "bulk-relax"
    out = {}
    for name in names:
        try:
            b = prepare_bulk(name, lattices, calc, cache, fmax=sec.lattice_fmax, steps=sec.lattice_steps,
                             identity=ident)
        except InterforgeError:
            raise
        except Exception as err:  # noqa: BLE001 - a calculator that cannot handle the phase is a bad choice
            raise InterforgeError(f"relaxing {name} with {ident} failed: {type(err).__name__}: {err}") from None
        out[name] = b
    return out


def _common(p):
    p.add_argument("--lattices", choices=["experimental", "teacher"],
                   help="lattices for matching: the library's published cells, or the cells the teacher relaxes to "
                        "(cached; default [interfaces] lattices = teacher)")
    p.add_argument("--calculator", metavar="MODULE:FACTORY", help="ASE calculator instead of the configured teacher")


def register(sub, parents):
    p = sub.add_parser("interfaces", help="lattice-matched heterointerfaces: search, rank, build",
                       description="Lattice matching, terminations, ranking and production cells of interfaces.")
    isub = p.add_subparsers(dest="interfaces_verb", metavar="ACTION", required=True)

    sp = isub.add_parser("search", parents=parents, help="enumerate lattice-matched orientation pairs")
    sp.add_argument("--substrate", nargs="+", help="substrate phase(s): library names or files "
                    "(default: [interfaces] substrates, the five ZrO2 polymorphs)")
    sp.add_argument("--film", nargs="+", help="film phase(s): library names or files "
                    "(default: [interfaces] films, alpha and ideal Li2ZrCl6)")
    sp.add_argument("--max-miller", type=int, help="largest Miller index in either basis (default 2)")
    sp.add_argument("--max-area", type=float, help="largest interface area, Å² (default 200)")
    sp.add_argument("--max-strain", type=float, help="largest length strain, fraction (default 0.01)")
    sp.add_argument("--max-angle-strain", type=float, help="largest angle strain, fraction (default 0.01)")
    sp.add_argument("--out", metavar="DIR", help="folder for candidates.csv/.json/.png (default WORKDIR/interfaces)")
    _common(sp)
    sp.set_defaults(func=run_search)

    rp = isub.add_parser("rank", parents=parents, help="relax candidates and rank them by interface energy")
    rp.add_argument("--candidates", required=True, help="candidates JSON from `interfaces search`")
    rp.add_argument("--keep", type=int, help="keep the k lowest per orientation pair (default 2)")
    rp.add_argument("--steps", type=int, help="relaxation step limit")
    rp.add_argument("--registration-grid", type=int, metavar="N", help="also try N x N in-plane film shifts (default 1)")
    rp.add_argument("--out", metavar="DIR", help="output folder (default WORKDIR/interfaces)")
    _common(rp)
    rp.set_defaults(func=run_rank)

    bp = isub.add_parser("build", parents=parents, help="write a production cell of one candidate")
    bp.add_argument("--candidates", required=True, help="candidates JSON from `interfaces search`")
    bp.add_argument("--id", help="candidate id (default: the first candidate)")
    bp.add_argument("--termination", type=int, help="termination index (default: the ranked best, else 0)")
    bp.add_argument("--lateral", type=float, metavar="Å", help="target in-plane length of each cell vector, Å")
    bp.add_argument("--atoms", type=int, help="target atom count (default 10000 unless --lateral is given)")
    bp.add_argument("--substrate-thickness", type=float, help="substrate thickness, Å (default 22)")
    bp.add_argument("--film-thickness", type=float, help="film thickness, Å (default 45)")
    bp.add_argument("--gap", type=float, help="gap between blocks, Å (default 2)")
    bp.add_argument("--vacuum", type=float, help="vacuum above the film, Å (default 0: two interfaces)")
    bp.add_argument("--registration", nargs=2, type=float, metavar=("U", "V"), default=[0.0, 0.0],
                    help="in-plane film shift, fractions of the matched cell")
    bp.add_argument("--strain-partition", type=float, help="share of the misfit taken by the substrate (default 0)")
    bp.add_argument("--out", metavar="DIR", help="output folder (default WORKDIR/interfaces/<id>)")
    _common(bp)
    bp.set_defaults(func=run_build)


def _pick(value, default):
    return default if value is None else value


def run_search(args):
    from interforge.interfaces import NoMatchError, plot_candidates, search, write_candidates

    sec = _section(args)
    substrates = args.substrate or sec.substrates
    films = args.film or sec.films
    bulks = _bulks(args, sec, list(dict.fromkeys(substrates + films)))
    found, misses = [], []
    for s in substrates:
        for f in films:
            try:
                found += search(bulks[s], bulks[f], max_miller=_pick(args.max_miller, sec.max_miller),
                                max_area=_pick(args.max_area, sec.max_area),
                                max_strain=_pick(args.max_strain, sec.max_strain),
                                max_angle_strain=_pick(args.max_angle_strain, sec.max_angle_strain),
                                max_matches_per_pair=sec.max_matches_per_pair, max_terminations=sec.max_terminations)
            except NoMatchError as err:
                misses.append(str(err))
    if not found:
        raise InterforgeError(misses[0] if len(misses) == 1 else
                              f"no lattice match for any of the {len(misses)} phase pairs within the limits")
    out = Path(args.out) if args.out else workdir_of(args) / "interfaces"
    paths = write_candidates(found, out)
    fig = plot_candidates(found, out / "candidates.png")
    from interforge.interfaces.outputs import candidate_row

    rows = [candidate_row(c) for c in found]
    print_table(rows, ["substrate", "substrate_miller", "substrate_miller_primitive", "film", "film_miller",
                       "area_A2", "max_strain", "angle_strain", "n_terminations"])
    for m in misses:
        print(f"note: {m}")
    print(f"{len(found)} candidates; wrote {paths['csv']}, {paths['json']}, {fig}")
    return [c.to_dict() for c in found]


def run_rank(args):
    from interforge.interfaces import plot_candidates, rank_candidates, read_candidates, write_candidates
    from interforge.fileio import atomic_write_json

    sec = _section(args)
    cands = read_candidates(args.candidates)
    if not cands:
        raise InterforgeError(f"{args.candidates} holds no candidates")
    names = list(dict.fromkeys([c.substrate for c in cands] + [c.film for c in cands]))
    bulks = _bulks(args, sec, names)
    calc, _ = _calculator(args)
    out = Path(args.out) if args.out else workdir_of(args) / "interfaces"
    try:
        rows = rank_candidates(cands, bulks, calc, keep=_pick(args.keep, sec.keep_lowest), fmax=sec.relax_fmax,
                               steps=_pick(args.steps, sec.relax_steps), out_dir=out / "ranked",
                               registration_grid=_pick(args.registration_grid, sec.registration_grid),
                               substrate_thickness=sec.candidate_substrate_thickness,
                               film_thickness=sec.candidate_film_thickness, gap=sec.gap,
                               strain_partition=sec.strain_partition, min_contact=sec.min_contact)
    except InterforgeError:
        raise
    except Exception as err:  # noqa: BLE001 - a calculator that cannot handle the cells is a bad choice
        raise InterforgeError(f"ranking with the calculator failed: {type(err).__name__}: {err}") from None
    write_candidates(cands, out, stem="ranked_candidates")
    atomic_write_json(out / "ranking.json", [r.to_dict() for r in rows])
    plot_candidates(cands, out / "ranked_candidates.png")
    print_table([r.to_dict() for r in rows],
                ["pair", "termination", "registration", "n_atoms", "gamma_J_m2", "converged", "kept"])
    return {"rows": [r.to_dict() for r in rows], "candidates": [c.to_dict() for c in cands]}


def run_build(args):
    from interforge.interfaces import build_interface, production_size, read_candidates, write_cell_files

    sec = _section(args)
    cands = read_candidates(args.candidates)
    if not cands:
        raise InterforgeError(f"{args.candidates} holds no candidates")
    if args.id:
        match = [c for c in cands if c.id == args.id]
        if not match:
            raise InterforgeError(f"no candidate '{args.id}' in {args.candidates}; ids: {', '.join(c.id for c in cands[:10])}")
        cand = match[0]
    else:
        cand = cands[0]
    bulks = _bulks(args, sec, list(dict.fromkeys([cand.substrate, cand.film])))
    lateral, n_s, n_f = production_size(
        cand, bulks[cand.substrate], bulks[cand.film], lateral_A=args.lateral,
        target_atoms=None if args.lateral else _pick(args.atoms, sec.target_atoms),
        substrate_thickness=_pick(args.substrate_thickness, sec.substrate_thickness),
        film_thickness=_pick(args.film_thickness, sec.film_thickness))
    term = _pick(args.termination, cand.termination_index if cand.termination_index is not None else 0)
    cell = build_interface(cand, bulks[cand.substrate], bulks[cand.film], termination=term, substrate_layers=n_s,
                           film_layers=n_f, lateral=lateral, gap=_pick(args.gap, sec.gap),
                           vacuum=_pick(args.vacuum, sec.vacuum), registration=tuple(args.registration),
                           strain_partition=_pick(args.strain_partition, sec.strain_partition),
                           min_contact=sec.min_contact)
    out = Path(args.out) if args.out else workdir_of(args) / "interfaces" / cand.id
    files = write_cell_files(cell.atoms, out, "interface")
    summary = cell.summary()
    print(f"{cand.pair}: {summary['n_atoms']} atoms ({cell.substrate_formula} / {cell.film_formula}), "
          f"lateral {lateral}, gap {cell.gap_A:.2f} Å; wrote {out}")
    return {**summary, "files": files, "pair": cand.pair}
