"""The benchmark suites run at tiny size, print their table and append one JSON record."""

import json

import benchmarks.__main__ as bench
import numpy as np
import pyarrow.parquet as pq
import pytest
from benchmarks.common import StepTimer

from belka_lab.dataset.store import PreparedDataset
from helpers import data_overrides


def _run(tmp_path, *argv) -> dict:
    jsonl = tmp_path / "bench.jsonl"
    assert bench.main([*argv, "--jsonl", str(jsonl)]) == 0
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 1 and records[0]["machine"]["torch"]
    assert (tmp_path / f"bench_{argv[0]}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the rates as a chart
    return {r["what"]: r for r in records[0]["results"]}


def test_step_reports_framework_and_bare_rates_and_their_ratio(tmp_path, tiny_library, capsys):
    rows = _run(
        tmp_path, "step", "--steps", "4", "--warmup", "1", *data_overrides(tmp_path, tiny_library), "data.batch_size=32"
    )
    ratio = rows["step: framework / bare"]["per_s"]
    bare = next(r for w, r in rows.items() if w.startswith("step, bare"))
    framework = next(r for w, r in rows.items() if w.startswith("step, framework"))
    assert ratio == pytest.approx(framework["per_s"] / bare["per_s"]) and 0 < ratio < 10
    assert "framework / bare" in capsys.readouterr().out


def test_predict_reports_molecules_per_second_and_the_belka_extrapolation(tmp_path, tiny_library):
    rows = _run(
        tmp_path, "predict", "--repeats", "1", *data_overrides(tmp_path, tiny_library), "data.eval_batch_size=256"
    )
    measured = next(r for w, r in rows.items() if w.startswith("predict: CNN1D"))
    n_val = int((np.asarray(PreparedDataset(tmp_path / "prepared").train("fold_stratified")) == 0).sum())
    assert measured["n"] == n_val + 600 and measured["per_s"] > 0  # every validation and test molecule predicted
    belka = next(r for w, r in rows.items() if "BELKA test" in w)
    assert belka["seconds"] == pytest.approx(878_022 / measured["per_s"])


def test_loaders_compares_the_memory_and_dali_backends(tmp_path):
    pytest.importorskip("nvidia.dali")
    rows = _run(tmp_path, "loaders", "--molecules", "20000", "--batch-size", "512", "--work-dir", str(tmp_path))
    memory = rows["memory backend, 0 workers, batch 512"]
    dali = next(r for w, r in rows.items() if w.startswith("DALI backend, next epoch"))
    assert memory["n"] == dali["n"] > 0  # the same epoch length from both
    assert rows["memory (0 workers) / DALI"]["per_s"] == pytest.approx(memory["per_s"] / dali["per_s"])


def test_step_times_the_steps_after_the_warm_up_across_epochs(tmp_path, tiny_library):
    """The tiny library's epoch is 10 batches of 256: the warm-up and the timed steps span epochs."""
    rows = _run(
        tmp_path,
        "step",
        "--steps",
        "15",
        "--warmup",
        "12",
        *data_overrides(tmp_path, tiny_library),
        "data.batch_size=256",
    )
    framework = next(r for w, r in rows.items() if w.startswith("step, framework"))
    assert framework["n"] == 15 * 256  # every timed step counted, none of the warm-up


def test_the_step_timer_starts_once_after_the_warm_up_whatever_the_epoch():
    import lightning as L
    import torch

    timer = StepTimer(warmup=7)

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def training_step(self, batch, batch_idx):
            return (self.w * batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.ones(3, 1)), batch_size=1
    )  # 3 steps per epoch
    trainer = L.Trainer(
        max_steps=17,
        callbacks=[timer],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Tiny(), data)
    assert (timer.start_step, timer.steps) == (7, 10) and timer.seconds > 0


def test_outputs_times_what_follows_training_and_writes_each_output(tmp_path):
    rows = _run(
        tmp_path, "outputs", "--val-molecules", "3000", "--test-molecules", "500", "--work-dir", str(tmp_path / "work")
    )
    assert rows["submission.csv, 1,000 rows"]["n"] == 1000
    after = rows["after training: the files, the table and the plots"]
    assert after["seconds"] == pytest.approx(
        sum(r["seconds"] for w, r in rows.items() if w != after["what"] and not w.startswith("validation AP"))
    )
    sklearn = next(r for w, r in rows.items() if "sklearn's" in w)
    ours = next(r for w, r in rows.items() if "tensors on cpu" in w)
    assert rows["validation AP: sklearn / belka_lab (tensors on cpu)"]["per_s"] == pytest.approx(
        sklearn["seconds"] / ours["seconds"]
    )
    sub = (tmp_path / "work" / "submission.csv").read_text().splitlines()
    assert sub[0] == "id,binds" and len(sub) == 1001
    assert {p.name for p in (tmp_path / "work" / "plots").glob("pr_*.png")} == {
        "pr_BRD4.png",
        "pr_HSA.png",
        "pr_sEH.png",
    }


def test_screen_compares_streaming_with_in_process_and_onnx_with_pytorch_and_watches_memory(tmp_path, tiny_library):
    rows = _run(
        tmp_path,
        "screen",
        "--repeats",
        "1",
        "--screen-rows",
        "1000,3000",
        "--work-dir",
        str(tmp_path / "work"),
        *data_overrides(tmp_path, tiny_library),
        "data.eval_batch_size=256",
    )
    n_val = int((np.asarray(PreparedDataset(tmp_path / "prepared").train("fold_stratified")) == 0).sum())
    in_process = next(r for w, r in rows.items() if w.startswith("in-process"))
    streaming = next(r for w, r in rows.items() if w.startswith("belka predict streaming"))
    assert in_process["n"] == streaming["n"] == n_val + 600  # the same molecules, both ways
    ratio = rows["streaming / in-process molecules/s"]["per_s"]
    assert ratio == pytest.approx(streaming["per_s"] / in_process["per_s"])
    onnx = next(r for w, r in rows.items() if w.startswith("ONNX Runtime (CNN1D"))
    assert "largest difference" in onnx["what"] and float(onnx["what"].split("difference ")[1][:7]) <= 1e-4
    memory = [r for w, r in rows.items() if w.startswith("belka predict, small CNN run")]
    assert [r["n"] for r in memory] == [1000, 3000] and all(r["peak_anon_gib"] > 0.05 for r in memory)
    assert pq.ParquetFile(tmp_path / "work" / "screen-3000.parquet").metadata.num_rows == 3000
