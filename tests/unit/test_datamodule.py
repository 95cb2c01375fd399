import numpy as np
import pytest
import torch

from belka_lab.core.errors import InputError
from belka_lab.dataset.folds import StratifiedSplit
from belka_lab.loading.batches import OrderedBatches, ShuffledBatches
from belka_lab.loading.loader import MemoryLoader
from helpers import datamodule_on


@pytest.fixture
def datamodule(tiny_library, tiny_prepared):
    dm = datamodule_on(
        tiny_library,
        tiny_prepared,
        split=StratifiedSplit(),
        fold=2,
        batch_size=64,
        eval_batch_size=100,
    )
    dm.setup("fit")
    return dm


def test_batches_have_the_contract_shapes_and_dtypes(datamodule):
    raw = next(iter(datamodule.train_dataloader()))
    assert raw["tokens"].dtype == torch.uint8 and raw["labels"].dtype == torch.int8  # compact on the wire
    batch = datamodule.on_after_batch_transfer(raw, 0)
    assert batch["tokens"].shape == (64, 142) and batch["tokens"].dtype == torch.long
    assert batch["mask"].dtype == torch.bool and torch.equal(batch["mask"], batch["tokens"] != 0)
    assert batch["labels"].shape == (64, 3) and batch["labels"].dtype == torch.float32
    assert batch["label_mask"].dtype == torch.bool
    assert batch["index"].dtype == torch.int64
    labels = datamodule.store.train("labels")[batch["index"].numpy()]
    assert np.array_equal(batch["labels"].numpy(), labels.clip(0))


def test_training_batches_are_full_and_drop_the_remainder(datamodule):
    sizes = [len(b["index"]) for b in datamodule.train_dataloader()]
    assert set(sizes) == {64} and len(sizes) == len(datamodule.train_idx) // 64
    seen = np.concatenate([b["index"].numpy() for b in datamodule.train_dataloader()])
    assert len(np.unique(seen)) == len(seen) and np.isin(seen, datamodule.train_idx).all()


def test_validation_covers_each_validation_molecule_once_with_fixed_shapes(datamodule):
    batches = list(datamodule.val_dataloader())
    assert {len(b["index"]) for b in batches} == {100}
    idx = np.concatenate([b["index"].numpy() for b in batches])
    assert np.array_equal(np.sort(idx[idx >= 0]), datamodule.val_idx)
    assert (idx[len(datamodule.val_idx) :] == -1).all()


def test_shuffle_changes_with_epoch_and_repeats_with_seed():
    a = ShuffledBatches(np.arange(1000), 100, seed=1)
    first = [b.copy() for b in a]
    a.set_epoch(1)
    second = [b.copy() for b in a]
    a.set_epoch(0)
    assert all(np.array_equal(x, y) for x, y in zip(first, a))
    assert not all(np.array_equal(x, y) for x, y in zip(first, second))


def test_drawing_the_next_permutation_ahead_gives_the_same_batches():
    """Epochs in order use the permutation drawn in the background; jumps and repeats draw
    their own; a pickled sampler (as sent to another process) leaves the thread behind."""
    import pickle

    ahead = ShuffledBatches(np.arange(5000), 64, seed=3, draw_ahead=True)
    plain = ShuffledBatches(np.arange(5000), 64, seed=3, draw_ahead=False)
    for epoch in (0, 1, 2, 5, 5, 6):
        ahead.set_epoch(epoch)
        plain.set_epoch(epoch)
        assert np.array_equal(ahead.epoch_batches(), plain.epoch_batches()), epoch
    assert ahead.drawn_ahead_used == 3 and plain.drawn_ahead_used == 0  # 0→1, 1→2, 5→6
    copy = pickle.loads(pickle.dumps(ahead))
    copy.set_epoch(7)
    plain.set_epoch(7)
    assert np.array_equal(copy.epoch_batches(), plain.epoch_batches())


def test_processes_get_disjoint_equal_shares():
    idx = np.arange(1003)
    train = [np.concatenate(list(ShuffledBatches(idx, 50, seed=0, rank=r, world_size=3))) for r in range(3)]
    assert len({len(t) for t in train}) == 1
    assert len(np.unique(np.concatenate(train))) == sum(len(t) for t in train)
    val = [np.concatenate(list(OrderedBatches(idx, 64, rank=r, world_size=3))) for r in range(3)]
    assert len({len(v) for v in val}) == 1
    allv = np.concatenate(val)
    assert np.array_equal(np.sort(allv[allv >= 0]), idx)


def _same_batches(a, b) -> None:
    a, b = list(a), list(b)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]), k


def test_device_resident_batches_equal_the_host_paths(tiny_library, tiny_prepared):
    from belka_lab.loading.resident import ResidentBatches

    def module(resident):
        dm = datamodule_on(
            tiny_library,
            tiny_prepared,
            split=StratifiedSplit(),
            fold=2,
            batch_size=64,
            eval_batch_size=100,
            seed=5,
            loader=MemoryLoader(resident=resident),
        )
        dm.setup("fit")
        return dm

    host, device = module(False), module(True)  # resident on the CPU: the same code path a GPU takes
    assert isinstance(device.train_dataloader(), ResidentBatches) and not isinstance(
        host.train_dataloader(), ResidentBatches
    )
    assert not isinstance(module("auto").train_dataloader(), ResidentBatches)  # auto: the CPU keeps the host path
    h, d = host.train_dataloader(), device.train_dataloader()
    for epoch in (0, 1):  # the trainer sets the epoch through `.sampler` on both
        h.sampler.set_epoch(epoch)
        d.sampler.set_epoch(epoch)
        _same_batches(h, d)
    h.sampler.skip_once(3)
    d.sampler.skip_once(3)
    _same_batches(h, d)  # resuming inside an epoch
    _same_batches(host.val_dataloader(), device.val_dataloader())  # padding index -1 included
    _same_batches(
        host.loader.evaluate(host.feed, host.place(), "test"),
        device.loader.evaluate(device.feed, device.place(), "test"),
    )


def test_automatic_residency_needs_the_budget_and_half_the_free_device_memory(monkeypatch):
    from belka_lab.loading.resident import fits_on

    device = torch.device("cuda", 0)
    monkeypatch.setattr(torch.accelerator, "get_memory_info", lambda d: (1000, 4000))
    assert fits_on(device, 500, budget_bytes=10_000) and not fits_on(device, 501, budget_bytes=10_000)
    assert not fits_on(device, 400, budget_bytes=300)

    def unknown(d):
        raise RuntimeError("no memory information for this device")

    monkeypatch.setattr(torch.accelerator, "get_memory_info", unknown)
    assert not fits_on(device, 1, budget_bytes=10_000)  # e.g. an XLA device: stays on the host


def test_the_disynthon_split_trains_on_no_pair_of_blocks_of_validation(tiny_prepared):
    from belka_lab.dataset.folds import DisynthonSplit
    from belka_lab.dataset.store import PreparedDataset

    store = PreparedDataset(tiny_prepared)
    bb = np.asarray(store.train("bb_ids"))
    split = DisynthonSplit(fraction=0.05)
    first = split.select(store, 0)
    assert len(first.val) > 0 and len(first.train) > 0
    for i, j in ((0, 1), (0, 2), (1, 2)):
        val_pairs = set(map(tuple, bb[first.val][:, [i, j]].tolist()))
        assert not val_pairs & set(map(tuple, bb[first.train][:, [i, j]].tolist()))
    second = split.select(store, 1)
    assert first.where == "disynthon=0" and not np.array_equal(first.val, second.val)
    with pytest.raises(InputError, match="fold=20 does not exist for disynthon"):
        split.select(store, 20)


def test_a_fingerprint_model_is_served_the_ecfp_cache_the_trees_read(tiny_library, tiny_prepared):
    from belka_lab.features import inputs
    from belka_lab.features.fingerprints import ECFPConfig, cached_ecfp, ecfp
    from belka_lab.tokens.characters import decode

    dm = datamodule_on(tiny_library, tiny_prepared, tokenizer={"name": "ecfp"}, batch_size=64, eval_batch_size=100)
    inputs.make(dm.tokenizer, tiny_prepared)  # what prepare_data adds for this tokenizer (the directory is shared)
    dm.setup("fit")
    served = dm.files("train")["tokens"]
    assert served == tiny_prepared / "fingerprints" / ECFPConfig().key / "train.npy"  # the trees' default cache
    written = served.stat().st_mtime_ns
    trees = cached_ecfp(tiny_prepared, ECFPConfig())  # a baseline on the same data: read, not recomputed
    assert served.stat().st_mtime_ns == written
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert batch["tokens"].shape == (64, 256) and batch["mask"].all()  # no byte pads
    rows = batch["index"].numpy()
    assert np.array_equal(batch["tokens"].numpy(), np.asarray(trees["train"][rows]))
    smiles = decode(np.asarray(dm.store.train("tokens")[rows[:5]]))
    assert np.array_equal(batch["tokens"][:5].numpy(), ecfp(smiles, ECFPConfig(workers=1))[0])  # a molecule's own bits
    assert (dm.pad_id, dm.vocab_size, dm.token_spec.width) == (256, 256, 256)
