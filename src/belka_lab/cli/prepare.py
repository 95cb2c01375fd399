"""`python -m belka_lab prepare data=belka data.root=/path`: Kaggle files → prepared directory
(and, with ``tokenizer=bpe|pretrained``, that tokenizer's cached ids; with ``loader=dali``,
the TFRecord shards of the split)."""

from __future__ import annotations

import json

from hydra.utils import instantiate
from omegaconf import DictConfig

from belka_lab.cli.command import hydra_command
from belka_lab.dataset.store import read_manifest
from belka_lab.loading.dali import DaliLoader
from belka_lab.loading.tfrecord import read_shard_manifest
from belka_lab.tokens.cache import cache_info


@hydra_command("prepare")
def main(cfg: DictConfig) -> None:
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    manifest = read_manifest(datamodule.prepared_dir)
    print(f"prepared {datamodule.prepared_dir}")
    print(
        json.dumps({k: manifest[k] for k in ("sizes", "positives", "unknown_labels", "folds", "vocab_size")}, indent=2)
    )
    tokenizer = datamodule.tokenizer
    if tokenizer.is_fingerprint or tokenizer.is_graph:
        what = "ECFP bits (shared with the baselines)" if tokenizer.is_fingerprint else "chemprop graphs"
        print(f"{what} for tokenizer={tokenizer.name}: {datamodule.files('train')['tokens'].parent}")
    elif tokenizer.is_blocks:
        print("tokenizer=blocks reads the prepared block ids (train/bb_ids.npy): nothing more to write")
    elif not tokenizer.is_char:
        info = cache_info(datamodule.prepared_dir, "train", datamodule.tokenizer.name)
        print(
            f"token ids of {info['path']}: train/tokens_{info['name']}.npy, width {info['width']}, "
            f"{info['vocab_size']} tokens, padding id {info['pad_id']}"
        )
    if isinstance(datamodule.loader, DaliLoader):
        out = datamodule.loader.write_shards(datamodule.feed)
        shards = read_shard_manifest(out)["shards"]
        size = sum(s["bytes"] for s in shards) / 2**20
        print(
            f"TFRecord shards for loader=dali: {out} ({len(shards)} shards, {size:,.1f} MiB, keyed by "
            f"{datamodule.split.shard_key})"
        )
