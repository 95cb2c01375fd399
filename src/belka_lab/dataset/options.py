"""How a prepared directory is made (``data.prepare``): the input's format and what every format shares."""

from __future__ import annotations

from dataclasses import dataclass

from belka_lab.core.errors import InputError
from belka_lab.dataset.schema import check_targets

FORMATS = ("kaggle", "counts")


@dataclass(frozen=True)
class PrepareOptions:
    """format: ``kaggle`` (BELKA's rows: one per molecule and protein, with ``binds``) or ``counts``
    (a compound table with read counts per target and replicate; ``counts`` holds its column
    mapping and scoring, :class:`belka_lab.dataset.count_columns.CountTable`).
    unknown_chars: 'error' (default), 'unk' (map to an extra code 37; models then need
    vocab_size 38) or 'skip' (drop train molecules with such characters; ids in the manifest).
    targets (kaggle): the ``protein_name`` values to keep, in this column order; None (default)
    takes every name in the train file, sorted (BELKA's files give BRD4, HSA, sEH).
    affinity (counts): how held-out affinity files are read,
    :class:`belka_lab.dataset.affinity_file.AffinityOptions`."""

    batch_rows: int = 2_000_000
    unknown_chars: str = "error"
    n_stratified_folds: int = 15
    stratified_seed: int = 42
    n_bb_groups: int = 5
    bb_seed: int = 42
    targets: list[str] | None = None
    format: str = "kaggle"
    counts: dict | None = None
    affinity: dict | None = None
    progress: bool = True

    def __post_init__(self):
        if self.format not in FORMATS:
            raise InputError(f"data.prepare.format={self.format!r}: choose one of {', '.join(FORMATS)}")
        if self.unknown_chars not in ("error", "unk", "skip"):
            raise InputError(f"data.prepare.unknown_chars must be error, unk or skip (got {self.unknown_chars!r})")
        if self.targets is not None:  # a list, as the manifest's JSON reads it back
            object.__setattr__(self, "targets", list(check_targets(self.targets, "data.prepare.targets")))
        if self.counts is not None:  # plain containers, as the manifest's JSON reads them back
            object.__setattr__(self, "counts", _plain(self.counts))
        if self.affinity is not None:
            object.__setattr__(self, "affinity", _plain(self.affinity))


def _plain(x):
    if isinstance(x, dict) or hasattr(x, "items"):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) or (hasattr(x, "__iter__") and not isinstance(x, str)):
        return [_plain(v) for v in x]
    return x
