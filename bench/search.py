"""Benchmark: searching a long list, in process (no server, no database).

A search of the public list is rendered once per list revision and search (``registry.caching``),
so what it costs is paid on each new search. Most of it is building every entry's searchable
text; ``SearchTexts`` keeps a version's texts so that only the first search of a version pays
that. This prints, for a list of ``--entries`` realistic entries (those of ``bench/pages.py``):
the time to build the texts, and the time of a few searches with and without them kept.
Best of ``--repeat`` runs; a measurement, so it always exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages import realistic_entries  # noqa: E402
from registry.lists.formats import Filters  # noqa: E402
from registry.lists.search import SearchTexts, searchable_text  # noqa: E402

SEARCHES = ("United States", "scc", "Standard Contractual Clauses Ireland", "societe payments")


def best_ms(work: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs, in milliseconds: the least disturbed by other processes."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=3000, help="entries in the list (default 3000)")
    parser.add_argument("--repeat", type=int, default=9, help="runs of each measurement (default 9)")
    args = parser.parse_args()

    entries = realistic_entries(args.entries)
    build = best_ms(lambda: [searchable_text(entry) for entry in entries], args.repeat)
    print(f"{len(entries)} entries: building their searchable texts takes {build:.1f} ms")
    texts = SearchTexts().of("bench", entries)
    for q in SEARCHES:
        filters = Filters.from_args({"q": q})
        found = len(filters.apply(entries, texts))
        cold = best_ms(lambda f=filters: f.apply(entries), args.repeat)
        kept = best_ms(lambda f=filters: f.apply(entries, texts), args.repeat)
        print(f"  {q!r:40} {found:5} found  {cold:7.1f} ms building texts  {kept:7.1f} ms with texts kept")


if __name__ == "__main__":
    main()
