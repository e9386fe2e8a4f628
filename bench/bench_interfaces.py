"""Interface search speed: interforge's search against pymatgen's SubstrateAnalyzer on the same phase pairs.

Both use pymatgen's Zur–McGill matcher; interforge additionally covers primitive-basis Miller indices,
merges duplicate/multiple super-lattices and enumerates terminations. Peer: ``SubstrateAnalyzer.calculate``
over the conventional cells at the same Miller limit and tolerances, measured in the same run.
Printed: seconds for each, the ratio, and how many distinct plane pairs each found.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

PAIRS = [("c-ZrO2", "ideal-Li2ZrCl6"), ("t-ZrO2", "ideal-Li2ZrCl6"), ("m-ZrO2", "alpha-Li2ZrCl6")]
MAX_MILLER = int(os.environ.get("BENCH_INTERFACES_MILLER", "2"))


def main() -> None:
    from pymatgen.analysis.interfaces.substrate_analyzer import SubstrateAnalyzer

    from interforge.interfaces import NoMatchError, load_bulk, search

    # Warm-up: pymatgen's matcher JIT-compiles on first use; keep that out of both timings.
    warm_sub, warm_film = load_bulk("c-ZrO2"), load_bulk("ideal-Li2ZrCl6")
    search(warm_sub, warm_film, max_miller=1, max_area=40)
    list(SubstrateAnalyzer(film_max_miller=1, substrate_max_miller=1, max_area=40).calculate(
        warm_film.structure, warm_sub.structure))
    print(f"{'pair':34s} {'interforge s':>13s} {'pymatgen s':>11s} {'ratio':>6s} {'planes ours':>11s} {'planes pmg':>10s}")
    for sub_name, film_name in PAIRS:
        sub, film = load_bulk(sub_name), load_bulk(film_name)  # the library's (experimental) lattices
        t0 = time.perf_counter()
        try:
            ours = search(sub, film, max_miller=MAX_MILLER, max_area=200, max_strain=0.01, max_angle_strain=0.01)
        except NoMatchError:
            ours = []
        t_ours = time.perf_counter() - t0
        analyzer = SubstrateAnalyzer(film_max_miller=MAX_MILLER, substrate_max_miller=MAX_MILLER, max_area=200,
                                     max_length_tol=0.01, max_angle_tol=0.01)
        film_struct = film.structure if film.structure.is_ordered else film.ordered
        t0 = time.perf_counter()
        peer = list(analyzer.calculate(film_struct, sub.structure))
        t_peer = time.perf_counter() - t0
        planes_peer = {(tuple(m.substrate_miller), tuple(m.film_miller)) for m in peer}
        planes_ours = {(c.substrate_miller, c.film_miller) for c in ours}
        print(f"{sub_name + ' / ' + film_name:34s} {t_ours:13.2f} {t_peer:11.2f} {t_ours / t_peer:6.2f} "
              f"{len(planes_ours):11d} {len(planes_peer):10d}")


if __name__ == "__main__":
    main()
