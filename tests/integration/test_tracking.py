"""Experiment tracking: W&B offline, TensorBoard, the run's own curves plot."""

import json

import pytest
import yaml

from belka_lab.training.train import train
from helpers import QUIET_TRAINER, belka, compose_run

SHORT = ["data.batch_size=64", "trainer.max_epochs=2", "+trainer.limit_train_batches=10", *QUIET_TRAINER]


def test_an_offline_wandb_run_records_the_metrics_config_table_and_plots(tmp_path, tiny_library, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: no key anywhere → offline by itself
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    train(compose_run("train", tmp_path, tiny_library, "run", "logger=[csv,wandb]", *SHORT))
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((tmp_path / "run").rglob("*"))
    records = _wandb_records(next(runs[0].glob("run-*.wandb")))  # what `wandb sync` would upload
    history = {
        item.key or "/".join(item.nested_key)
        for r in records
        if r.WhichOneof("record_type") == "history"
        for item in r.history.item
    }
    assert {"val/map", "train/loss_epoch", "train/samples_per_s"} <= history
    assert any(k.startswith("val/ap_") for k in history)  # the proteins with a positive in this small fold
    assert {"results/_type", "plots/pr_BRD4/_type", "plots/curves/_type"} <= history  # the results table, the PNGs
    assert any(k.startswith("lr-") for k in history)  # the learning rate
    (config,) = [r.config for r in records if r.WhichOneof("record_type") == "config"]
    values = {item.key: json.loads(item.value_json) for item in config.update}
    assert values["model"]["backbone"]["_target_"] == "belka_lab.models.cnn.CNN1D"  # the resolved config
    assert values["logger"]["wandb"]["offline"] is True


def _wandb_records(path) -> list:
    """The protobuf records of an offline W&B run file (LevelDB log format: 32 KiB blocks,
    7-byte record headers, records split into first/middle/last parts across blocks)."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, chunks, part = 7, [], b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if kind == 0:  # block trailer / padding
            pos += left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            chunks.append(chunk)
        elif kind == 2:
            part = chunk
        elif kind == 3:
            part += chunk
        else:
            chunks.append(part + chunk)
    records = []
    for chunk in chunks:
        record = pb.Record()
        record.ParseFromString(chunk)
        records.append(record)
    return records


def test_tensorboard_gets_the_metrics_and_every_run_draws_its_curves(tmp_path, tiny_library):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(compose_run("train", tmp_path, tiny_library, "run", "logger=tensorboard", *SHORT))
    run = tmp_path / "run"
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0}).Reload()
    assert {"val/map", "train/loss_epoch"} <= set(events.Tags()["scalars"])
    assert "plots/pr_sEH" in events.Tags()["images"]
    assert (run / "plots" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_multirun_jobs_share_one_wandb_group(tmp_path, tiny_library):

    pytest.importorskip("wandb")
    r = belka(
        "-m",
        "seed=1,2",
        "logger=[csv,wandb]",
        f"data.root={tiny_library}",
        f"data.prepared_dir={tmp_path}/prepared",
        "data.synth=null",
        "data.prepare.progress=false",
        f"paths.root_dir={tmp_path}",
        f"hydra.sweep.dir={tmp_path}/sweep",
        "predict=false",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        "data.batch_size=32",
        *QUIET_TRAINER,
        cwd=tmp_path,
        env={**__import__("os").environ, "WANDB_MODE": "offline"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    groups = {
        yaml.safe_load((tmp_path / "sweep" / str(job) / "csv" / "hparams.yaml").read_text())["logger"]["wandb"]["group"]
        for job in (0, 1)
    }
    assert groups == {"sweep"}
