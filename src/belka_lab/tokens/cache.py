"""Token arrays of the tokenizers, cached beside the prepared character tokens.

The ``tokenizer`` config group chooses what the models read:

- ``char`` — the prepared character codes (``tokens.npy``), nothing else to do;
- ``atom`` — atom-level tokens (``tokens/atoms.py``): bracket atoms, ``Br``, ``Cl`` and
  ring-bond numbers as one token each, the vocabulary built from the data; ids with 0 as padding
  and no special tokens, read by the models that read characters;
- ``pretrained`` — a saved tokenizer (a local directory, or a hub id when the hub is
  reachable), e.g. the one of a pretrained ChemBERTa;
- ``bpe`` — a byte-pair-encoding tokenizer trained here on the training SMILES with HF
  ``tokenizers`` and saved with ``save_pretrained`` (RoBERTa's special tokens), once.

For every tokenizer but ``char``, each prepared part (``train``, ``test``) gets
``tokens_<name>.npy`` (uint16, [molecules, width]: ``<s> … </s>`` then padding for the Hugging
Face tokenizers, the tokens then padding for ``atom``) and
``tokens_<name>.json`` (pad id, width, tokenizer hash), the JSON written last: a
cache without it, or made by another tokenizer, is rebuilt. SMILES are recovered from the
character codes, so the cache needs no second pass over the source files; the training loop
never tokenises.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path
from belka_lab.core.progress import bar as progress_bar
from belka_lab.tokens.atoms import VOCAB_FILE, AtomTokenizer
from belka_lab.tokens.characters import decode
from belka_lab.tokens.huggingface import load_tokenizer, train_bpe
from belka_lab.tokens.spec import TokenizerConfig


def _tokenizer_hash(tokenizer) -> str:
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.blake2b(
        json.dumps([type(tokenizer).__name__, vocab, tokenizer.pad_token_id]).encode(), digest_size=12
    ).hexdigest()


def cache_info(prepared_dir: Path, part: str, name: str) -> dict | None:
    p = Path(prepared_dir) / part / f"tokens_{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def ensure_tokenizer(spec: TokenizerConfig, prepared_dir: Path, progress: bool = False):
    """The spec's tokenizer: loaded, or (bpe) trained on the training SMILES or (atom) built from every
    train and test molecule the first time."""
    if spec.name == "atom":
        if spec.path is None:
            raise InputError("tokenizer=atom needs tokenizer.path: the directory its vocabulary is saved to")
        if not (Path(spec.path) / VOCAB_FILE).exists():
            parts = [np.load(Path(prepared_dir) / part / "tokens.npy", mmap_mode="r") for part in ("train", "test")]
            AtomTokenizer.from_codes(parts, progress=progress).save(Path(spec.path))
        return AtomTokenizer.load(Path(spec.path))
    if spec.name == "bpe":
        if spec.path is None:
            raise InputError("tokenizer=bpe needs tokenizer.path: the directory the trained tokenizer is saved to")
        if not (Path(spec.path) / "tokenizer.json").exists():
            codes = np.load(Path(prepared_dir) / "train" / "tokens.npy", mmap_mode="r")
            sample = np.random.default_rng(0).permutation(len(codes))[: min(len(codes), 1_000_000)]
            train_bpe(decode(codes[np.sort(sample)]), Path(spec.path), spec.vocab_size, spec.max_length)
        return load_tokenizer(spec.path)
    if spec.path is None:
        raise InputError(
            f"tokenizer={spec.name} needs tokenizer.path (a directory with a saved tokenizer, or a hub id)"
        )
    return load_tokenizer(spec.path)


def build_cache(spec: TokenizerConfig, prepared_dir: Path, progress: bool = False) -> dict:
    """Write tokens_<name>.npy/.json for train and test unless current; returns the train part's info."""
    tokenizer = ensure_tokenizer(spec, prepared_dir, progress)
    fp = _tokenizer_hash(tokenizer)
    infos = {}
    for part in ("train", "test"):
        info = cache_info(prepared_dir, part, spec.name)
        if info is None or info.get("tokenizer_hash") != fp:
            info = _encode_part(tokenizer, Path(prepared_dir) / part, spec, fp, progress)
        infos[part] = info
    width = max(i["width"] for i in infos.values())
    if any(i["width"] != width for i in infos.values()):  # both parts at one width: a model sees one length
        infos = {part: _encode_part(tokenizer, Path(prepared_dir) / part, spec, fp, progress, width) for part in infos}
    return infos["train"]


def _encode_part(
    tokenizer, part_dir: Path, spec: TokenizerConfig, fp: str, progress: bool, width: int | None = None
) -> dict:
    (part_dir / f"tokens_{spec.name}.json").unlink(missing_ok=True)  # invalid until rewritten last
    codes = np.load(part_dir / "tokens.npy", mmap_mode="r")
    pad = tokenizer.pad_token_id
    limit = width or spec.max_length
    if len(tokenizer) > np.iinfo(np.uint16).max:
        raise InputError(
            f"tokenizer {spec.path} has {len(tokenizer)} tokens; the cache stores uint16 ids (at most 65,535)"
        )
    out = np.full((len(codes), limit), pad, dtype=np.uint16)
    longest = 0
    bar = progress_bar(len(codes), f"tokenize {part_dir.name} ({spec.name})", enabled=progress)
    for start in range(0, len(codes), spec.batch_rows):
        chunk = np.asarray(codes[start : start + spec.batch_rows])
        if isinstance(tokenizer, AtomTokenizer):  # compiled, on the codes themselves
            ids, lengths = tokenizer.encode_codes(chunk)
        else:
            ids = tokenizer(decode(chunk), add_special_tokens=True)["input_ids"]
            lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        if lengths.max(initial=0) > limit:
            bad = start + int(np.argmax(lengths > limit))
            raise InputError(
                f"{part_dir}/tokens.npy row {bad}: {int(lengths.max())} tokens "
                f"with tokenizer {spec.path or spec.name}, "
                f"more than data.tokenizer.max_length={limit}; raise tokenizer.max_length"
            )
        longest = max(longest, int(lengths.max(initial=0)))
        if isinstance(ids, np.ndarray):
            keep = min(limit, ids.shape[1])
            out[start : start + len(ids), :keep] = ids[:, :keep]
        else:
            for i, row in enumerate(ids):
                out[start + i, : len(row)] = row
        bar.update(len(chunk))
    bar.close()
    width = width or max(8, -(-longest // 8) * 8)  # trimmed to the longest molecule, a multiple of 8
    with atomic_path(part_dir / f"tokens_{spec.name}.npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(out[:, :width]))
    info = {
        "name": spec.name,
        "path": spec.path,
        "pad_id": int(pad),
        "width": int(width),
        "vocab_size": len(tokenizer),
        "tokenizer_hash": fp,
    }
    with atomic_path(part_dir / f"tokens_{spec.name}.json") as tmp:
        tmp.write_text(json.dumps(info, indent=1))
    return info
