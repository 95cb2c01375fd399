"""What a model reads of each prepared molecule: the array the data module serves as ``tokens``,
for each entry of the ``tokenizer`` config group.

- ``char``: the prepared character codes, ``<part>/tokens.npy`` (0 pads);
- ``atom``, ``bpe``, ``pretrained``: a tokenizer's cached ids, ``<part>/tokens_<name>.npy``
  (``tokens/cache.py``);
- ``ecfp``: the molecule's ECFP bits packed eight to a byte, ``fingerprints/<key>/<part>.npy``:
  the very cache the tree baselines read (``features/fingerprints.py``), computed once. No byte
  pads (the padding id is 256, outside a byte), so every position is read.
"""

from __future__ import annotations

from pathlib import Path

from belka_lab.core.errors import InputError
from belka_lab.features.fingerprints import ECFPConfig, cached_ecfp
from belka_lab.tokens.cache import build_cache, cache_info
from belka_lab.tokens.characters import PAD
from belka_lab.tokens.spec import TokenizerConfig

BYTES = 256  # the values of a packed byte: a fingerprint's vocabulary and its padding id


def ecfp_config(tokenizer: TokenizerConfig) -> ECFPConfig:
    """The fingerprint ``tokenizer=ecfp`` reads (the trees' default, ``dy=keep``, so both share one cache)."""
    return ECFPConfig(radius=tokenizer.radius, n_bits=tokenizer.n_bits, option="data.tokenizer")


def make(tokenizer: TokenizerConfig, prepared_dir: Path, progress: bool = False) -> None:
    """Write what ``tokenizer`` reads beside the prepared data, unless it is there already."""
    if tokenizer.is_fingerprint:
        cached_ecfp(prepared_dir, ecfp_config(tokenizer), progress)
    elif not tokenizer.is_char:
        build_cache(tokenizer, prepared_dir, progress=progress)


def file(tokenizer: TokenizerConfig, prepared_dir: Path, part: str) -> Path:
    """The array of ``part`` (train or test) a model reading ``tokenizer`` is served."""
    if tokenizer.is_fingerprint:
        return Path(prepared_dir) / "fingerprints" / ecfp_config(tokenizer).key / f"{part}.npy"
    name = "tokens" if tokenizer.is_char else f"tokens_{tokenizer.name}"
    return Path(prepared_dir) / part / f"{name}.npy"


def described(tokenizer: TokenizerConfig, prepared_dir: Path, vocab_size: int) -> tuple[int, int]:
    """(padding id, vocabulary size) of what ``tokenizer`` reads (``vocab_size``: the prepared
    character codes'), once :func:`make` has written it."""
    if tokenizer.is_char:
        return PAD, vocab_size
    if tokenizer.is_fingerprint:
        if not file(tokenizer, prepared_dir, "train").exists():
            raise InputError(f"{prepared_dir} has no ECFP bits for tokenizer=ecfp yet; run prepare_data() first")
        return BYTES, BYTES
    info = cache_info(prepared_dir, "train", tokenizer.name)
    if info is None:
        raise InputError(
            f"{prepared_dir}/train has no tokens_{tokenizer.name}.npy yet; run prepare_data() first (training does)"
        )
    return info["pad_id"], info["vocab_size"]
