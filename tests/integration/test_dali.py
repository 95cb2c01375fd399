"""TFRecord shards and the DALI loader (CPU pipelines, ``device_id=None``)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from belka_lab.core.errors import InputError
from belka_lab.dataset.folds import BuildingBlockSplit, StratifiedSplit
from belka_lab.dataset.store import PreparedDataset
from belka_lab.loading.tfrecord import crc32c, encode_records, index_text, read_shard_manifest, scan_shard, write_shards

pytest.importorskip("nvidia.dali", reason="the [dali] extra is not installed")

from belka_lab.loading.dali import DaliBatches, DaliLoader  # noqa: E402
from belka_lab.loading.loader import MemoryLoader  # noqa: E402
from helpers import belka, datamodule_on  # noqa: E402


def _module(library, prepared, split=None, fold=2, loader="dali", **dali):
    loader = {"dali": lambda: DaliLoader(**{"shard_records": 300, **dali}), "memory": MemoryLoader}.get(
        loader, lambda: loader
    )()
    dm = datamodule_on(
        library,
        prepared,
        split=split or StratifiedSplit(),
        fold=fold,
        batch_size=64,
        eval_batch_size=100,
        loader=loader,
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def _rows(batches) -> pd.DataFrame:
    """(index, tokens, labels) of every real (index >= 0) molecule, one row each."""
    frames = []
    for b in batches:
        keep = b["index"].numpy() >= 0
        frame = pd.DataFrame(
            {"index": b["index"].numpy()[keep], "tokens": [r.tobytes() for r in b["tokens"].numpy()[keep]]}
        )
        if "labels" in b:
            frame["labels"] = [r.tobytes() for r in b["labels"].numpy()[keep]]
        frames.append(frame)
    return pd.concat(frames).sort_values("index", ignore_index=True)


@pytest.fixture(scope="module")
def prepared(tiny_prepared, tmp_path_factory):
    """A copy of the tiny prepared data (shards are written into it)."""
    out = tmp_path_factory.mktemp("dali") / "prepared"
    shutil.copytree(tiny_prepared, out)
    return out


@pytest.fixture
def shards(tiny_library, prepared, tmp_path):
    """A private copy with shards written (tests below damage them)."""
    copy = tmp_path / "prepared"
    shutil.copytree(prepared, copy, ignore=shutil.ignore_patterns("tfrecord"))
    return _module(tiny_library, copy)


# ---------------------------------------------------------------------------- format
def test_crc32c_and_the_index_match_the_tfrecord_format(tmp_path):
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    tokens = np.random.default_rng(0).integers(0, 40, (50, 142), dtype=np.uint8)
    data, offsets = encode_records(tokens, np.full((50, 3), -1, np.int8), np.arange(50) * 10**6)
    path = tmp_path / "s.tfrecord"
    path.write_bytes(data.tobytes())
    assert np.array_equal(scan_shard(path), offsets)  # the framing's lengths and CRCs check out
    script = os.path.join(os.path.dirname(sys.executable), "tfrecord2idx")  # DALI's own index builder
    subprocess.run([sys.executable, script, str(path), str(tmp_path / "s.idx")], check=True)
    assert (tmp_path / "s.idx").read_bytes() == index_text(offsets)


@pytest.mark.parametrize(
    "split", [StratifiedSplit(), BuildingBlockSplit(share=0, partial=0)], ids=["stratified", "bb non_share"]
)
def test_the_shards_of_a_fold_hold_exactly_the_memory_backends_molecules(tiny_library, prepared, split):
    dali = _module(tiny_library, prepared, split, fold=1)
    memory = _module(tiny_library, prepared, split, fold=1, loader="memory")
    # validation: the same multiset of (molecule, tokens, labels), every molecule once
    got, want = _rows(dali.val_dataloader()), _rows(memory.val_dataloader())
    assert got["index"].is_unique and got.equals(want)
    assert np.array_equal(got["index"], memory.val_idx)
    # training: the union of the training shards is the training set; an epoch is full batches of distinct molecules
    train_shards = sum(s["records"] for s in dali.loader.shards["train"])
    assert train_shards == len(memory.train_idx)
    epoch = _rows(dali.train_dataloader())
    assert len(epoch) == len(dali.train_dataloader()) * 64 == len(memory.train_dataloader()) * 64
    assert epoch["index"].is_unique and np.isin(epoch["index"], memory.train_idx).all()
    arrays = memory.store
    assert np.array_equal(
        np.stack([np.frombuffer(t, np.uint8) for t in epoch["tokens"]]), arrays.train("tokens")[epoch["index"]]
    )
    assert np.array_equal(
        np.stack([np.frombuffer(t, np.int8) for t in epoch["labels"]]), arrays.train("labels")[epoch["index"]]
    )
    # the test molecules, in every prediction pass
    assert _rows(dali.loader.evaluate(dali.feed, dali.place(), "test")).equals(
        _rows(memory.loader.evaluate(memory.feed, memory.place(), "test"))
    )


def test_batches_have_the_memory_backends_shapes_and_dtypes(shards):
    train = next(iter(shards.train_dataloader()))
    val = next(iter(shards.val_dataloader()))
    assert train["tokens"].shape == (64, 142) and str(train["tokens"].dtype) == "torch.uint8"
    assert train["labels"].shape == (64, 3) and str(train["labels"].dtype) == "torch.int8"
    assert train["index"].shape == (64,) and str(train["index"].dtype) == "torch.int64"
    assert val["tokens"].shape == (100, 142)
    expanded = shards.on_after_batch_transfer(train, 0)
    assert expanded["mask"].sum() > 0 and expanded["label_mask"].dtype.is_floating_point is False


def test_epochs_reshuffle_and_an_abandoned_pass_does_not_shorten_the_next(shards):
    loader = shards.train_dataloader()
    first = _rows(loader)
    order1 = np.concatenate([b["index"].numpy() for b in loader])
    order2 = np.concatenate([b["index"].numpy() for b in loader])
    assert len(order1) == len(order2) == len(first) and not np.array_equal(order1, order2)
    it = iter(loader)
    next(it), next(it)  # a pass left after two batches (e.g. limit_train_batches)
    assert len(list(loader)) == len(loader)
    val = shards.val_dataloader()
    assert _rows(val).equals(_rows(val))  # validation passes repeat exactly


def test_two_processes_read_disjoint_parts_that_cover_the_fold(shards):
    def part(name, rank, shuffle, bs):
        return DaliBatches(
            shards.loader.root,
            shards.loader.shards[name],
            bs,
            shuffle=shuffle,
            token_dtype="uint8",
            options=shards.loader,
            rank=rank,
            world_size=2,
        )

    val = [list(part("val", r, False, 64)) for r in range(2)]
    assert len(val[0]) == len(val[1])  # same number of evaluation batches on each process
    idx = [np.concatenate([b["index"].numpy() for b in v]) for v in val]
    real = [i[i >= 0] for i in idx]
    assert not set(real[0]) & set(real[1])
    assert np.array_equal(np.sort(np.concatenate(real)), shards.val_idx)
    train = [part("train", r, True, 32) for r in range(2)]
    assert len(train[0]) == len(train[1]) == len(shards.train_idx) // 64
    seen = [np.concatenate([b["index"].numpy() for b in t]) for t in train]
    assert not set(seen[0]) & set(seen[1]) and len(np.unique(np.concatenate(seen))) == 2 * len(train[0]) * 32


def test_a_uint16_tokenizer_cache_round_trips_through_the_shards(tiny_library, prepared, smiles_tokenizer):
    dm = datamodule_on(
        tiny_library,
        prepared,
        split=StratifiedSplit(),
        batch_size=64,
        eval_batch_size=100,
        loader=DaliLoader(shard_records=1000),
        tokenizer={"name": "bpe", "path": str(smiles_tokenizer)},
    )
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    assert str(batch["tokens"].dtype) == "torch.uint16"
    want = np.load(prepared / "train" / "tokens_bpe.npy")[batch["index"].numpy()]
    assert np.array_equal(batch["tokens"].numpy(), want)


# ---------------------------------------------------------------------------- writing
def test_shards_are_reused_when_current_and_rewritten_when_options_change(shards):
    out = shards.loader.root
    stamp = (out / "manifest.json").stat().st_mtime_ns
    assert shards.loader.write_shards(shards.feed) == out and (out / "manifest.json").stat().st_mtime_ns == stamp
    manifest = read_shard_manifest(out)
    assert (
        sum(s["records"] for s in manifest["shards"] if s["part"] == "train")
        == PreparedDataset(shards.prepared_dir).n_train
    )
    assert all(s["records"] <= 300 for s in manifest["shards"])
    shards.loader.shard_records = 100
    shards.loader.write_shards(shards.feed)
    smaller = read_shard_manifest(out)["shards"]
    assert len(smaller) > len(manifest["shards"]) and max(s["records"] for s in smaller) == 100


def test_an_interrupted_write_leaves_no_shard_directory_and_is_cleaned_up(tiny_prepared, tmp_path):
    prepared = tmp_path / "p"
    shutil.copytree(tiny_prepared, prepared, ignore=shutil.ignore_patterns("tfrecord"))
    code = f"""
import os, belka_lab.loading.tfrecord as t
real = t._write_one
def dying(path, *a):
    if "-00001" in path.name:
        os.kill(os.getpid(), 9)
    return real(path, *a)
t._write_one = dying
t.write_shards({str(prepared)!r}, shard_records=50)
"""
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    root = prepared / "tfrecord"
    assert not (root / "tokens-fold_stratified").exists() and list(root.glob(".tokens-fold_stratified.tmp-*"))
    out = write_shards(prepared, shard_records=50)
    assert read_shard_manifest(out) is not None and not list(root.glob(".*tmp-*"))


# ---------------------------------------------------------------------------- bad input
def test_a_truncated_shard_is_reported_by_name(shards):
    s = shards.loader.shards["train"][0]
    path = shards.loader.root / s["file"]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match=f"{s['file']}.*truncated"):
        shards.loader.setup(shards.feed)


def test_a_corrupt_shard_is_reported_by_its_checksum_or_when_dali_fails_on_it(shards):
    s = shards.loader.shards["val"][0]
    path = shards.loader.root / s["file"]
    data = bytearray(path.read_bytes())
    offset = int((shards.loader.root / s["index"]).read_text().splitlines()[5].split()[0])
    data[offset + 2] ^= 0xFF  # a record's length field
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=f"{s['file']}.*SHA-256"):
        shards.loader.setup(shards.feed)
    shards.loader.verify = "size"  # not checked up front: DALI fails, the loader names shard and record
    shards.loader.setup(shards.feed)
    with pytest.raises(InputError, match=f"{s['file']} is truncated or corrupt at record 5"):
        list(shards.val_dataloader())


def test_a_missing_index_file_is_rebuilt_identically(shards):
    s = shards.loader.shards["train"][1]
    idx = shards.loader.root / s["index"]
    before = idx.read_bytes()
    idx.unlink()
    shards.loader.setup(shards.feed)
    assert idx.read_bytes() == before
    assert len(list(shards.train_dataloader())) == len(shards.train_dataloader())


def test_choosing_dali_without_the_extra_names_the_extra(shards, monkeypatch):
    for name in [m for m in sys.modules if m.startswith("nvidia.dali")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "nvidia.dali", None)  # import fails as when it is not installed
    with pytest.raises(InputError, match=r"belka_lab\[dali\]"):
        shards.prepare_data()
    with pytest.raises(InputError, match="loader=memory"):
        shards.train_dataloader()


def test_an_unknown_loader_is_refused(tiny_library, prepared):
    with pytest.raises(InputError, match="memory or dali"):
        _module(tiny_library, prepared, loader="arrow")


# ---------------------------------------------------------------------------- training
def test_training_with_dali_reaches_the_memory_backends_metrics(tmp_path, rich_library):
    from belka_lab.training.train import train
    from helpers import QUIET_TRAINER, compose_run

    results = {}
    for loader in ("memory", "dali"):
        cfg = compose_run(
            "train",
            tmp_path,
            rich_library,
            loader,
            f"loader={loader}",
            "data.batch_size=128",
            "trainer.max_epochs=1",
            "data.eval_batch_size=2048",
            *QUIET_TRAINER,
        )
        results[loader] = train(cfg)
        val = pd.read_parquet(tmp_path / loader / "predictions" / "val.parquet")
        assert len(val) == len(
            np.flatnonzero(np.asarray(PreparedDataset(tmp_path / "prepared").train("fold_stratified")) == 0)
        )
    assert json.loads((tmp_path / "dali" / "results.json").read_text())["val_map"] == pytest.approx(
        results["dali"]["val_map"]
    )
    base = np.mean([(val[f"label_{p}"] == 1).mean() for p in ("BRD4", "HSA", "sEH")])  # AP of a random ranking (~0.05)
    # it learned, from its own batches: one short epoch gives 1.8–2.0× a random ranking on the CPUs measured
    # (0.089–0.100 against 0.050); the bar stays clear of that spread, another CPU picks other kernels
    assert results["dali"]["val_map"] > 1.3 * base, (results, base)
    assert abs(results["dali"]["val_map"] - results["memory"]["val_map"]) < 0.05, results


def test_sampled_validation_cells_are_refused_with_what_to_change(tiny_library, prepared):
    with pytest.raises(InputError, match="data.split.share=0 data.split.partial=0, or use loader=memory"):
        _module(tiny_library, prepared, BuildingBlockSplit(), fold=1)


def test_the_prepare_command_writes_the_shards_of_the_split(tiny_library, tmp_path):
    r = belka(
        "prepare",
        "data=belka",
        f"data.root={tiny_library}",
        f"data.prepared_dir={tmp_path}/prepared",
        f"paths.root_dir={tmp_path}",
        "data.prepare.progress=false",
        "data.prepare.n_bb_groups=3",
        "loader=dali",
        "split=bb",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = tmp_path / "prepared" / "tfrecord" / "tokens-bb_group_mask"
    assert f"TFRecord shards for loader=dali: {out}" in r.stdout
    manifest = read_shard_manifest(out)
    keys = {s["key"] for s in manifest["shards"] if s["part"] == "train"}
    masks = np.unique(PreparedDataset(tmp_path / "prepared").train("bb_group_mask"))
    assert keys == set(masks.tolist()) and all(
        (out / s["file"]).exists() and (out / s["index"]).exists() for s in manifest["shards"]
    )
