"""A DEL count table → the prepared directory (``data.prepare.format=counts``): the steps in order.

The table has one row per compound: an id, its SMILES, the building blocks of its 2–4 cycles
(SMILES or ids), and read counts — for each target its replicates, for each no-target control
(beads, matrix) its replicates, and optionally the library load. Its columns are found by the
mapping (``dataset/count_columns.py``), streamed and checked (``dataset/count_ingest.py``),
scored (``dataset/count_scores.py``); the held-out affinity file is the test part
(``dataset/affinity_file.py``); training reads the result through ``dataset/count_spec.py``.

Streamed in record batches like Kaggle files. Besides the tokens and block ids every format
writes, a count library gets::

    train/counts.npy   int32 [N, S]  every count column (targets' replicates, controls', load)
    train/scores.npy   float32 [N, T] the configured enrichment score per target, on the scale
                                      models regress on (log10 of a ratio; a z-score as is)
    train/labels.npy   int8 [N, T]    1 where the score reaches the threshold (the hits)

and a manifest entry ``count_table`` naming the columns, each target's replicates and control,
the totals (each column's summed reads) and the score. The test part is the held-out affinity
file when one is given (``smiles``, ``target``, ``kd`` and optionally the id column and
``blocks``): its compounds are predicted and scored against −log Kd.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from belka_lab.core.errors import preview
from belka_lab.core.io import staged
from belka_lab.dataset import affinity_file, read, store
from belka_lab.dataset.count_columns import CountTable, layout
from belka_lab.dataset.count_ingest import check_totals, ingest
from belka_lab.dataset.count_scores import scores_and_labels
from belka_lab.dataset.molecules import Blocks, announce, finish_blocks, manifest
from belka_lab.dataset.options import PrepareOptions


def prepare_counts(train_file, heldout_file, out_dir, options: PrepareOptions) -> Path:
    """Build the prepared directory of a count table at ``out_dir`` (atomically)."""
    table = CountTable.of(options.counts)
    train_file, out = Path(train_file), Path(out_dir)
    affinity = Path(heldout_file) if heldout_file else None
    t0 = time.time()
    with staged(out, store.MANIFEST) as stage:
        tmp = stage.path
        (tmp / "train").mkdir()
        (tmp / "test").mkdir()
        blocks = Blocks()
        lay = layout(train_file, read.column_names(train_file), table)
        targets = tuple(lay.targets)
        te = (
            affinity_file.ingest(affinity, tmp, targets, table, options)
            if affinity
            else affinity_file.empty(tmp, len(table.blocks))
        )
        totals, n, unknown, found = ingest(train_file, tmp, blocks, table, lay, options, te["ids"])
        absent = sorted(te["ids"] - found.keys())
        if absent:  # KinDEL's held-out library members come from the whole library, not its top 1M rows
            print(
                f"prepare: {affinity}: the {table.id} of {len(absent)} compounds is not in {train_file} "
                f"({preview(absent)}): they are scored as library members this table does not hold; if the ids "
                f"should all be here, this is another selection's affinity file",
                file=sys.stderr,
            )
        check_totals(train_file, lay, totals)
        announce(options, "enrichment scores and labels")
        threshold = scores_and_labels(tmp, lay, totals, table, n, max(options.batch_rows, 1))
        made = finish_blocks(tmp, blocks, len(blocks.ids), options)
        test_only = affinity_file.attach_blocks(tmp, te["cycles"], te["compound_ids"], found)
        stage.manifest = manifest(
            "counts",
            t0,
            targets,
            store.load(tmp / "train" / "labels.npy"),
            {"train": unknown, "test": te["unknown_chars"]},
            sizes={
                "train_rows": n,
                "train_molecules": n,
                "test_rows": te["rows"],
                "test_molecules": te["molecules"],
                "building_blocks": made["building_blocks"] + test_only,
                "building_blocks_test_only": test_only,
                "cycles": len(table.blocks),
            },
            folds=made["folds"],
            test={
                "split_groups": te["split_groups"],
                "has_labels": False,
                "has_affinity": affinity is not None,
                **te["record"],  # affinity: each file's rows, censored, zero and missing kd, in the library
            },
            sources=read.sources(train_file, affinity),
            options=options,
            count_table=lay.to_json(totals.tolist(), table, threshold),
            test_blocks=True,  # the test part's block ids come from its files (0.11)
        )
    return out
