"""Per-molecule work (RDKit) in parallel chunks, with one progress bar: the fingerprint and
descriptor caches share it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from belka_lab.core.progress import bar as progress_bar


def map_chunks(fn: Callable, chunks: list, workers: int | None, total: int, desc: str, progress: bool) -> Iterator:
    """``fn`` of every chunk, in order, on up to ``workers`` processes (default: every core; one
    runs in this process); the bar counts ``len(result[0])`` items a chunk, ``total`` in all."""
    workers = min(workers or os.cpu_count() or 1, max(len(chunks), 1))
    with progress_bar(total, desc, enabled=progress) as bar:
        if workers <= 1:
            results = map(fn, chunks)
            for result in results:
                bar.update(len(result[0]))
                yield result
        else:
            with ProcessPoolExecutor(workers) as pool:
                for result in pool.map(fn, chunks):
                    bar.update(len(result[0]))
                    yield result
