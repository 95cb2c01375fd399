"""What the tests share: Kaggle-shaped rows, a library's data overrides, composed configs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hydra import compose, initialize_config_dir

from belka_lab.core.config import CONFIG_DIR
from belka_lab.dataset.folds import StratifiedSplit
from belka_lab.loading.datamodule import BelkaDataModule

QUIET_TRAINER = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]

BB1 = "O=C(N[C@@H](C)C(=O)O)OCC1c2ccccc2-c2ccccc21"
MOL_A = "C[C@@H](C(=O)N[Dy])Nc1nc(NCc2ccccc2)nc(NCCO)n1"
MOL_B = "C[C@@H](C(=O)N[Dy])Nc1nc(NCC#C)nc(Nc2ccc(F)cc2)n1"
MOL_C = "C[C@@H](C(=O)N[Dy])Nc1nc(NCCOC)nc(NCc2ccccc2)n1"


def kaggle_rows(rows: list[tuple]) -> pa.Table:
    """rows: (id, molecule_smiles, protein_name, binds) → a Kaggle-schema table."""
    ids, mols, prots, binds = zip(*rows)
    n = len(rows)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "buildingblock1_smiles": [BB1] * n,
            "buildingblock2_smiles": ["NCc1ccccc1"] * n,
            "buildingblock3_smiles": ["NCCO"] * n,
            "molecule_smiles": list(mols),
            "protein_name": list(prots),
            "binds": pa.array(binds, pa.int64()) if all(isinstance(b, int) for b in binds) else list(binds),
        }
    )


def full_rows(start_id: int, molecules: list[str], labels: list[tuple[int, int, int]]) -> list[tuple]:
    out, i = [], start_id
    for m, lab in zip(molecules, labels):
        for p, b in zip(("BRD4", "HSA", "sEH"), lab):
            out.append((i, m, p, b))
            i += 1
    return out


def write_test_file(path: Path, molecules: list[str], start_id: int = 1000) -> Path:
    rows = [(start_id + i, m, p, 0) for i, (m, p) in enumerate((m, p) for m in molecules for p in ("BRD4", "sEH"))]
    pq.write_table(kaggle_rows(rows).drop(["binds"]), path)
    return path


def data_overrides(tmp_path, library) -> list[str]:
    """Read the synthetic library at ``library`` (no generation), prepare into <tmp_path>/prepared, quietly."""
    return [
        f"data.root={library}",
        f"data.prepared_dir={tmp_path}/prepared",
        "data.synth=null",
        "data.prepare.progress=false",
    ]


def compose_run(name: str, tmp_path, library, run: str, *overrides: str):
    """Config `name` (train, pretrain, baseline, …) reading `library`, preparing into
    <tmp_path>/prepared and writing to <tmp_path>/<run>."""
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose(
            name,
            overrides=[
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path}/{run}",
                *data_overrides(tmp_path, library),
                *overrides,
            ],
        )


def write_submission(tmp_path, ids, binds, header="id,binds") -> Path:
    path = tmp_path / "submission.csv"
    path.write_text(header + "\n" + "".join(f"{i},{b}\n" for i, b in zip(ids, binds)))
    return path


def belka(*args: str, cwd=None, env: dict | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``python -m belka_lab <args>`` in a separate process, as a user types it; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "belka_lab", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def datamodule_on(library, prepared, **options) -> BelkaDataModule:
    """A BelkaDataModule over ``library``'s files and the prepared directory ``prepared``
    (stratified split unless ``split=`` is given); not yet prepared or set up."""
    options.setdefault("split", StratifiedSplit())
    return BelkaDataModule(
        prepared_dir=str(prepared),
        train_file=str(library / "train.parquet"),
        test_file=str(library / "test.parquet"),
        **options,
    )
