"""The streaming loader (``loader=dali``): NVIDIA DALI reads the TFRecord shards.

``DaliBatches`` is an iterable of the same batch dicts as the memory backend (``tokens``
uint8/uint16 [B, L], ``labels`` int8 [B, 3], ``index`` int64 [B]; expanded on the device by
the DataModule). One DALI pipeline per process reads ``shard_id = rank`` of ``num_shards =
world size``, so processes read disjoint parts; its outputs are on the process's GPU when it
trains on one (``device_id`` of the CUDA device) and on the CPU otherwise (``device_id=None``).

- Training: ``random_shuffle`` with a buffer of ``shuffle_buffer`` records and the order of
  the shard files reshuffled every epoch (``shuffle_after_epoch``); ``len(self)`` full
  batches per epoch, equal on every process (the memory backend's drop-last count).
- Evaluation: records in stored order, every molecule of the fold once; the last batch is
  filled to full size and its padding carries index -1 (as the memory backend does), and
  every process yields the same number of batches.

DALI shuffles within a buffer, not by a global permutation: the writer stores every key's
molecules in a random order so that buffer shuffling suffices. Exact mid-epoch resume is a
property of the memory backend; resuming with DALI continues at the right step with a fresh
order.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from belka_lab.core.errors import InputError
from belka_lab.loading.loader import Feed, Place
from belka_lab.loading.tfrecord import check_shards, read_shard_manifest, scan_shard, shard_dir, write_shards

_EXTRA = "pip install 'belka_lab[dali]' (the nvidia-dali-cuda120 wheel, Linux x86_64)"


def require_dali() -> None:
    try:
        import nvidia.dali  # noqa: F401
        import nvidia.dali.plugin.pytorch  # noqa: F401
    except ImportError as e:
        raise InputError(
            f"loader=dali needs NVIDIA DALI, the optional [dali] extra: {_EXTRA}; or use loader=memory"
        ) from e


@dataclass
class DaliOptions:
    """The ``loader=dali`` config."""

    shard_records: int = 1_000_000  # records per TFRecord shard file
    shuffle_buffer: int = 100_000  # records DALI shuffles among (training)
    num_threads: int = 2  # DALI CPU threads per process
    prefetch: int = 2  # batches prepared ahead
    verify: str = "checksum"  # checksum (SHA-256 of every shard) | size (file sizes only: faster start)


class DaliLoader(DaliOptions):
    """The loader strategy (see ``loading/loader.py``): TFRecord shards of the prepared data for the
    tokenizer and split, written beside it on first use, streamed by one DALI pipeline per process."""

    name = "dali"

    def prepare(self, feed: Feed) -> None:
        require_dali()
        if feed.split.shard_key is None:  # e.g. split=disynthon: its selection is no set of shards
            feed.split.shard_parts(np.zeros(0, np.int64), 0)
        if feed.files["train"]["tokens"].parent.name != "train" or feed.files["train"]["tokens"].name == "bb_ids.npy":
            raise InputError(
                "loader=dali streams token ids: fingerprints, graphs and block ids (model=fp_mlp, graph, synthon) are "
                "read with loader=memory"
            )
        if set(feed.files["train"]) - {"tokens", "labels"}:
            raise InputError("loader=dali serves tokens and labels only; a count table trains with loader=memory")
        self.write_shards(feed)

    def write_shards(self, feed: Feed) -> Path:
        """The TFRecord shards of the prepared data for this tokenizer and split (written unless current)."""
        tokens = feed.files["train"]["tokens"].name
        return write_shards(feed.prepared_dir, tokens, feed.split.shard_key, self.shard_records, progress=feed.progress)

    def setup(self, feed: Feed) -> None:
        """Check the shards of this tokenizer and split, and pick those of the fold."""
        self.root = shard_dir(feed.prepared_dir, feed.files["train"]["tokens"].name, feed.split.shard_key)
        manifest = read_shard_manifest(self.root)
        if manifest is None:
            raise InputError(
                f"{self.root} holds no complete TFRecord shards; run "
                "`python -m belka_lab prepare loader=dali` (training writes them too)"
            )
        shards = manifest["shards"]
        check_shards(self.root, shards, self.verify)
        train = [s for s in shards if s["part"] == "train"]
        use, val = feed.split.shard_parts(np.array([s["key"] for s in train]), feed.fold)
        self.shards = {
            "train": [s for s, u in zip(train, use) if u],
            "val": [s for s, v in zip(train, val) if v],
            "test": [s for s in shards if s["part"] == "test"],
        }
        self.token_dtype = manifest["tokens"]["dtype"]

    def _batches(self, feed: Feed, place: Place, part: str, batch_size: int, shuffle: bool) -> DaliBatches:
        return DaliBatches(
            self.root,
            self.shards[part],
            batch_size,
            shuffle=shuffle,
            token_dtype=self.token_dtype,
            options=self,
            seed=feed.seed,
            rank=place.rank,
            world_size=place.world,
            device=place.device,
        )

    def train(self, feed: Feed, place: Place) -> DaliBatches:
        batches = self._batches(feed, place, "train", feed.batch_size, shuffle=True)
        done = place.batches_done_in_epoch(len(batches))
        if done:
            batches.skip_once(done)
        return batches

    def evaluate(self, feed: Feed, place: Place, part: str) -> DaliBatches:
        return self._batches(feed, place, part, feed.eval_batch_size, shuffle=False)


class DaliBatches:
    """Batches of one part (a set of shards) read by a DALI pipeline."""

    def __init__(
        self,
        root: Path,
        shards: list[dict],
        batch_size: int,
        *,
        shuffle: bool,
        token_dtype: str,
        options: DaliOptions,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | None = None,
    ):
        require_dali()
        self.root, self.shards = Path(root), list(shards)
        self.batch_size, self.shuffle, self.options = int(batch_size), bool(shuffle), options
        self.token_dtype = getattr(torch, token_dtype)
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        # DALI places outputs by CUDA ordinal; anything else reads into host memory
        self.device_id = device.index if device is not None and device.type == "cuda" else None
        self.has_labels = all(s["part"] == "train" for s in self.shards)
        self.records = sum(int(s["records"]) for s in self.shards)
        self._iterator = None
        self._open = False  # a pass was left before its end (its remaining batches are drained first)
        self._skip = 0
        # this process's share: DALI's shard ``rank`` of ``world_size`` (records start*N//world ...)
        self.own = self.records * (self.rank + 1) // self.world_size - self.records * self.rank // self.world_size
        if self.shuffle and len(self) == 0:
            raise InputError(
                f"{self.records} training molecules cannot fill one batch of {batch_size} per process; lower "
                f"data.batch_size"
            )

    def __len__(self) -> int:
        if self.shuffle:
            return self.records // (self.batch_size * self.world_size)
        most = -(-self.records // self.world_size)
        return max(1, -(-most // self.batch_size))

    def skip_once(self, batches: int) -> None:
        """The next pass yields ``len - batches`` batches (resuming inside an epoch)."""
        self._skip = int(batches)

    # ------------------------------------------------------------------ pipeline
    def _build(self):
        import nvidia.dali.fn as fn  # optional
        import nvidia.dali.tfrecord as tfrec  # optional
        from nvidia.dali import pipeline_def  # optional
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy  # optional

        features = {
            "tokens": tfrec.FixedLenFeature((), tfrec.string, ""),
            "index": tfrec.FixedLenFeature([1], tfrec.int64, -1),
        }
        if self.has_labels:
            features["labels"] = tfrec.FixedLenFeature((), tfrec.string, "")
        names = list(features)
        opts = self.options

        @pipeline_def(
            batch_size=self.batch_size,
            num_threads=opts.num_threads,
            device_id=self.device_id,
            seed=self.seed + self.rank,
            prefetch_queue_depth=opts.prefetch,
        )
        def pipeline():
            shuffle = (
                dict(
                    random_shuffle=True,
                    initial_fill=opts.shuffle_buffer,
                    shuffle_after_epoch=True,
                    shuffle_after_epoch_seed=self.seed,
                )
                if self.shuffle
                else {}
            )
            out = fn.readers.tfrecord(
                path=[str(self.root / s["file"]) for s in self.shards],
                index_path=[str(self.root / s["index"]) for s in self.shards],
                features=features,
                shard_id=self.rank,
                num_shards=self.world_size,
                pad_last_batch=True,
                name="reader",
                **shuffle,
            )
            return tuple(out[k].gpu() if self.device_id is not None else out[k] for k in names)

        pipe = pipeline()
        policy = LastBatchPolicy.DROP if self.shuffle else LastBatchPolicy.FILL
        with self._reading():
            return DALIGenericIterator([pipe], names, reader_name="reader", last_batch_policy=policy, auto_reset=False)

    @contextmanager
    def _reading(self):
        """A DALI failure while reading: when a shard is broken, one InputError naming it and the
        record; when every shard is sound, DALI's own error stands."""
        try:
            yield
        except RuntimeError:
            for s in self.shards:  # checks the framing and both CRCs of every record
                scan_shard(self.root / s["file"])
            raise

    def _next(self):
        with self._reading():
            return next(self._iterator)[0]

    def _finish_pass(self, exhausted: bool = False) -> None:
        """Drain what is left of DALI's epoch and rewind it for the next pass."""
        while not exhausted:
            try:
                self._next()
            except StopIteration:
                exhausted = True
        self._iterator.reset()
        self._open = False

    # ------------------------------------------------------------------ iteration
    def __iter__(self):
        if self._iterator is None:
            self._iterator = self._build()
        elif self._open:
            self._finish_pass()
        self._open = True
        skip, self._skip = self._skip, 0
        seen, exhausted, last = 0, False, None
        for _ in range(len(self) - skip):
            if not exhausted:
                try:
                    out = self._next()
                except StopIteration:  # this process's share ends a batch before another's
                    exhausted = True
            if exhausted:
                if last is None:
                    raise InputError(
                        f"process {self.rank} of {self.world_size} has no records to read in {self.root}; use fewer "
                        f"processes"
                    )
                yield self._padding(last)
                continue
            last = self._convert(out, seen)
            seen += self.batch_size
            yield last
        self._finish_pass(exhausted)

    def _convert(self, out: dict, seen: int) -> dict[str, torch.Tensor]:
        batch = {"tokens": out["tokens"].view(self.token_dtype), "index": out["index"].view(-1)}
        if self.has_labels:
            batch["labels"] = out["labels"].view(torch.int8)
        if not self.shuffle:  # evaluation: positions past this process's share repeat its last record
            valid = torch.arange(seen, seen + self.batch_size, device=batch["index"].device) < self.own
            batch["index"] = torch.where(valid, batch["index"], -1)
        return batch

    @staticmethod
    def _padding(batch: dict) -> dict[str, torch.Tensor]:
        return {k: (torch.full_like(v, -1) if k == "index" else v) for k, v in batch.items()}
