"""Kaggle submissions: build `id,binds` from molecule predictions, and check a file
(``belka submission check``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from belka_lab.core.errors import InputError, preview
from belka_lab.core.io import atomic_path
from belka_lab.dataset.read import check_file, check_kind, reading


def build(rows: pd.DataFrame, molecule_probs: np.ndarray) -> pd.DataFrame:
    """rows: the prepared test rows (id, molecule, protein); probs: [n_test_molecules, 3]."""
    binds = molecule_probs[rows["molecule"].to_numpy(), rows["protein"].to_numpy()]
    return pd.DataFrame({"id": rows["id"].to_numpy(), "binds": binds.astype(np.float64)})


def write(sub: pd.DataFrame, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        sub.to_csv(tmp, index=False, float_format="%.8g")
    return Path(path)


def check(path: str | Path, test_ids: np.ndarray | None = None) -> pd.DataFrame:
    """Raise InputError unless `path` is a valid submission (for `test_ids`, when given)."""
    path = check_file(path, "submission file")
    check_kind(path)
    with reading(path), open(path, encoding="utf-8-sig") as f:  # a byte-order mark is not part of the header
        header = f.readline().strip()
    if header != "id,binds":
        raise InputError(f"{path}: header is {header!r}, Kaggle expects 'id,binds'")
    try:
        with reading(path):
            sub = pd.read_csv(path, dtype={"id": "int64"}, encoding="utf-8-sig")
    except (ValueError, pd.errors.ParserError) as e:
        raise InputError(f"{path} cannot be parsed as id,binds rows ({e}); write the submission again") from None
    binds = pd.to_numeric(sub["binds"], errors="coerce").to_numpy()
    bad = ~np.isfinite(binds) | (binds < 0) | (binds > 1)
    if bad.any():
        raise InputError(
            f"{path}: {bad.sum()} rows have `binds` that is not a probability in [0, 1] (ids "
            f"{preview(sub['id'][bad].tolist())}); fix the predictions"
        )
    ids = sub["id"].to_numpy()
    dup = pd.Series(ids).duplicated()
    if dup.any():
        raise InputError(
            f"{path}: {dup.sum()} ids appear more than once (ids {preview(ids[dup.to_numpy()].tolist())}); each test "
            f"id must appear once"
        )
    if test_ids is not None:
        missing = np.setdiff1d(test_ids, ids)
        extra = np.setdiff1d(ids, test_ids)
        if len(missing):
            raise InputError(
                f"{path}: {len(missing)} test ids are missing (ids {preview(missing.tolist())}); predict every row "
                f"of the "
                f"test file"
            )
        if len(extra):
            raise InputError(
                f"{path}: {len(extra)} ids are not in the test file (ids {preview(extra.tolist())}); predict the "
                f"test file "
                f"you submit to"
            )
    return sub
