"""Per-molecule work (RDKit) in parallel chunks, with one progress bar: the fingerprint and
descriptor caches share it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor


def map_chunks(fn: Callable, chunks: list, workers: int | None, total: int, desc: str, progress: bool) -> Iterator:
    """``fn`` of every chunk, in order, on up to ``workers`` processes (default: every core; one
    runs in this process); the bar counts ``len(result[0])`` items a chunk, ``total`` in all."""
    from tqdm import tqdm

    workers = min(workers or os.cpu_count() or 1, max(len(chunks), 1))
    with tqdm(total=total, desc=desc, unit="mol", disable=not progress) as bar:
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
