"""TFRecord shards of a prepared dataset: the records the streaming (DALI) loader reads.

Each record is a ``tf.train.Example`` written without TensorFlow (the protobuf and the
TFRecord framing are a few varints and CRC32C checksums, encoded here with numba):

- ``tokens``: bytes — one molecule's row of the token array (142 bytes for the character
  codes; 2 × width bytes, little-endian uint16, for a tokenizer cache),
- ``labels``: bytes — 3 int8 labels, BRD4, HSA, sEH, ``-1`` (0xFF) where unknown (train only),
- ``index``: int64 — the molecule's row in the prepared arrays.

Shards are grouped by a *key* so that any validation fold of the split can be read as a set
of whole shards: ``fold_stratified`` for the stratified split, ``bb_group_mask`` (which block
groups a molecule touches) for the building-block split. Within a key the molecules are
written in a seeded random order (readers shuffle only within a buffer), cut into shards of
``shard_records``. Every shard has a DALI index file (``offset length`` per record).

Layout::

    <prepared>/tfrecord/<tokens>-<key>/manifest.json          # written last
    <prepared>/tfrecord/<tokens>-<key>/train-k03-00000.tfrecord (+ .idx)
    <prepared>/tfrecord/<tokens>-<key>/test-00000.tfrecord      (+ .idx)

The directory is written under a temporary name and renamed when complete; the manifest
lists every shard with its record count, sizes and SHA-256 checksums.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np

from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path, staged
from belka_lab.core.progress import bar as progress_bar
from belka_lab.dataset.store import MANIFEST, PreparedDataset

FORMAT_VERSION = 1
KEY_COLUMNS = ("fold_stratified", "bb_group_mask")


# ---------------------------------------------------------------------------- encoding
def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # CRC-32C (Castagnoli), reflected
        table[i] = c
    return table


_CRC = _crc_table()
_KEYS = tuple(np.frombuffer(k, dtype=np.uint8).copy() for k in (b"tokens", b"labels", b"index"))


@numba.njit(cache=True)
def _crc32c(buf, start, end, table):
    c = np.uint32(0xFFFFFFFF)
    for i in range(start, end):
        c = table[(c ^ buf[i]) & 0xFF] ^ (c >> np.uint32(8))
    return c ^ np.uint32(0xFFFFFFFF)


@numba.njit(cache=True)
def _masked(c):
    c = np.uint32(c)
    return np.uint32(((c >> np.uint32(15)) | (c << np.uint32(17))) + np.uint32(0xA282EAD8))


@numba.njit(cache=True)
def _vlen(v):
    n = 1
    while v >= 128:
        v >>= 7
        n += 1
    return n


@numba.njit(cache=True)
def _put_varint(out, pos, v):
    while v >= 128:
        out[pos] = (v & 127) | 128
        v >>= 7
        pos += 1
    out[pos] = v
    return pos + 1


@numba.njit(cache=True)
def _put_u32(out, pos, v):
    for k in range(4):
        out[pos + k] = (v >> np.uint32(8 * k)) & np.uint32(0xFF)
    return pos + 4


@numba.njit(cache=True)
def _put_bytes_entry(out, pos, key, data, row):
    """Map entry {key: Feature(bytes_list=BytesList(value=[data[row]]))}."""
    n = data.shape[1]
    blist = 1 + _vlen(n) + n
    feat = 1 + _vlen(blist) + blist
    entry = 1 + _vlen(len(key)) + len(key) + 1 + _vlen(feat) + feat
    out[pos] = 0x0A  # Features.feature (map entry), field 1
    pos = _put_varint(out, pos + 1, entry)
    out[pos] = 0x0A  # entry key, field 1
    pos = _put_varint(out, pos + 1, len(key))
    for k in range(len(key)):
        out[pos + k] = key[k]
    pos += len(key)
    out[pos] = 0x12  # entry value, field 2
    pos = _put_varint(out, pos + 1, feat)
    out[pos] = 0x0A  # Feature.bytes_list, field 1
    pos = _put_varint(out, pos + 1, blist)
    out[pos] = 0x0A  # BytesList.value, field 1
    pos = _put_varint(out, pos + 1, n)
    for k in range(n):
        out[pos + k] = data[row, k]
    return pos + n


@numba.njit(cache=True)
def _bytes_entry_size(key_len, n):
    blist = 1 + _vlen(n) + n
    feat = 1 + _vlen(blist) + blist
    entry = 1 + _vlen(key_len) + key_len + 1 + _vlen(feat) + feat
    return 1 + _vlen(entry) + entry


@numba.njit(cache=True)
def _encode(tokens, labels, index, out, offsets, table, k_tok, k_lab, k_idx):
    """TFRecord records of rows ``0..n-1`` into ``out``; ``offsets[i]`` = start of record i."""
    has_labels = labels.shape[1] > 0
    pos = 0
    for i in range(tokens.shape[0]):
        offsets[i] = pos
        v = np.uint64(index[i])
        packed = _vlen(v)
        ilist = 1 + _vlen(packed) + packed
        ifeat = 1 + _vlen(ilist) + ilist
        ientry = 1 + _vlen(5) + 5 + 1 + _vlen(ifeat) + ifeat
        features = _bytes_entry_size(6, tokens.shape[1]) + 1 + _vlen(ientry) + ientry
        if has_labels:
            features += _bytes_entry_size(6, labels.shape[1])
        example = 1 + _vlen(features) + features
        start = pos + 12
        p = start
        out[p] = 0x0A  # Example.features, field 1
        p = _put_varint(out, p + 1, features)
        p = _put_bytes_entry(out, p, k_tok, tokens, i)
        if has_labels:
            p = _put_bytes_entry(out, p, k_lab, labels, i)
        out[p] = 0x0A
        p = _put_varint(out, p + 1, ientry)
        out[p] = 0x0A
        p = _put_varint(out, p + 1, 5)
        for k in range(5):
            out[p + k] = k_idx[k]
        p += 5
        out[p] = 0x12
        p = _put_varint(out, p + 1, ifeat)
        out[p] = 0x1A  # Feature.int64_list, field 3
        p = _put_varint(out, p + 1, ilist)
        out[p] = 0x0A  # Int64List.value (packed), field 1
        p = _put_varint(out, p + 1, packed)
        p = _put_varint(out, p, v)
        # framing: uint64 length, masked CRC of the length, data, masked CRC of the data
        n = np.uint64(example)
        for k in range(8):
            out[pos + k] = (n >> np.uint64(8 * k)) & np.uint64(0xFF)
        _put_u32(out, pos + 8, _masked(_crc32c(out, pos, pos + 8, table)))
        pos = _put_u32(out, p, _masked(_crc32c(out, start, p, table)))
    offsets[tokens.shape[0]] = pos
    return pos


def encode_records(tokens: np.ndarray, labels: np.ndarray | None, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bytes of the records, offsets [n + 1]) for rows of tokens/labels with their molecule index."""
    tokens = np.ascontiguousarray(tokens).view(np.uint8).reshape(len(tokens), -1)
    labels = np.zeros((len(tokens), 0), np.uint8) if labels is None else np.ascontiguousarray(labels).view(np.uint8)
    index = np.ascontiguousarray(index, dtype=np.int64)
    if index.min(initial=0) < 0:
        raise ValueError("molecule indices must be non-negative")
    bound = 64 + tokens.shape[1] + labels.shape[1] + 64
    out = np.empty(len(tokens) * bound, dtype=np.uint8)
    offsets = np.empty(len(tokens) + 1, dtype=np.int64)
    end = _encode(tokens, labels, index, out, offsets, _CRC, *_KEYS)
    return out[:end], offsets


def crc32c(data: bytes) -> int:
    buf = np.frombuffer(data, dtype=np.uint8)
    return int(_crc32c(buf, 0, len(buf), _CRC))


@numba.njit(cache=True)
def _scan(buf, offsets, table):
    """Walk the framing, checking both CRCs of every record: record starts into ``offsets``;
    returns (records, first bad record or -1)."""
    pos, i, n = 0, 0, len(buf)
    while pos < n:
        if pos + 12 > n:
            return i, i
        length = 0
        for k in range(8):
            length |= np.int64(buf[pos + k]) << (8 * k)
        crc = np.uint32(0)
        for k in range(4):
            crc |= np.uint32(buf[pos + 8 + k]) << np.uint32(8 * k)
        if crc != _masked(_crc32c(buf, pos, pos + 8, table)) or length < 0 or pos + 16 + length > n:
            return i, i
        end = pos + 12 + length
        crc = np.uint32(0)
        for k in range(4):
            crc |= np.uint32(buf[end + k]) << np.uint32(8 * k)
        if crc != _masked(_crc32c(buf, pos + 12, end, table)):
            return i, i
        offsets[i] = pos
        pos += 16 + length
        i += 1
    offsets[i] = pos
    return i, -1


def scan_shard(path: Path) -> np.ndarray:
    """Record offsets [n + 1] from a shard's framing; InputError naming the shard if it is cut or broken."""
    buf = np.fromfile(path, dtype=np.uint8)
    offsets = np.empty(len(buf) // 16 + 2, dtype=np.int64)
    n, bad = _scan(buf, offsets, _CRC)
    if bad >= 0:
        raise InputError(f"TFRecord shard {path} is truncated or corrupt at record {bad}; {_REWRITE}")
    return offsets[: n + 1]


def index_text(offsets: np.ndarray) -> bytes:
    """DALI's index format: ``offset length`` per record, one line each."""
    starts, lengths = offsets[:-1], np.diff(offsets)
    return "".join(f"{s} {n}\n" for s, n in zip(starts.tolist(), lengths.tolist())).encode()


# ---------------------------------------------------------------------------- writing
_REWRITE = (
    "delete that shard directory and run `python -m belka_lab prepare loader=dali` "
    "(same data/split/tokenizer overrides) to write it again"
)


def shard_dir(prepared_dir: Path, tokens_file: str, key_column: str) -> Path:
    return Path(prepared_dir) / "tfrecord" / f"{Path(tokens_file).stem}-{key_column}"


def _options(store: PreparedDataset, tokens_file: str, key_column: str, shard_records: int, seed: int) -> dict:
    tok = store.path / "train" / tokens_file
    stamp = [tok.stat().st_size, tok.stat().st_mtime_ns] if tok.exists() else None
    return {
        "tokens_file": tokens_file,
        "key_column": key_column,
        "shard_records": int(shard_records),
        "seed": int(seed),
        "prepared": store.manifest.get("sources"),
        "tokens_stamp": stamp,
    }


def read_shard_manifest(out: Path) -> dict | None:
    m = out / MANIFEST
    if not m.exists():
        return None
    manifest = json.loads(m.read_text())
    return manifest if manifest.get("format_version") == FORMAT_VERSION else None


def write_shards(
    prepared_dir: Path,
    tokens_file: str = "tokens.npy",
    key_column: str = "fold_stratified",
    shard_records: int = 1_000_000,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Write (or reuse, when current) the TFRecord shards of a prepared dataset; returns their directory."""
    if key_column not in KEY_COLUMNS:
        raise InputError(f"TFRecord shards are keyed by one of {KEY_COLUMNS}, not {key_column!r}")
    if shard_records < 1:
        raise InputError(f"loader.shard_records must be at least 1 (got {shard_records})")
    store = PreparedDataset(prepared_dir)
    out = shard_dir(store.path, tokens_file, key_column)
    options = _options(store, tokens_file, key_column, shard_records, seed)
    current = read_shard_manifest(out)
    if current is not None and current["options"] == options:
        return out
    with staged(out, MANIFEST) as stage:  # manifest last, then the directory moves into place
        tmp = stage.path
        shards = []
        train_tokens = store.train(Path(tokens_file).stem)
        key = np.asarray(store.train(key_column))
        total = len(train_tokens) + store.n_test
        bar = progress_bar(total, f"tfrecord {out.name}", enabled=progress)
        labels = store.train("labels")
        for k in np.unique(key).tolist():  # keys are non-negative: fold numbers or block-group masks
            rows = np.random.default_rng([seed, k]).permutation(np.flatnonzero(key == k))
            for s, start in enumerate(range(0, len(rows), shard_records)):
                part = np.sort(rows[start : start + shard_records])  # gather in order, then write shuffled
                order = np.random.default_rng([seed, k, s]).permutation(len(part))
                shards.append(
                    _write_one(
                        tmp / f"train-k{k:02d}-{s:05d}.tfrecord",
                        "train",
                        k,
                        train_tokens[part][order],
                        labels[part][order],
                        part[order],
                    )
                )
                bar.update(len(part))
        test_tokens = store.test(Path(tokens_file).stem)
        for s, start in enumerate(range(0, len(test_tokens), shard_records)):
            rows = np.arange(start, min(start + shard_records, len(test_tokens)))
            shards.append(_write_one(tmp / f"test-{s:05d}.tfrecord", "test", None, test_tokens[rows], None, rows))
            bar.update(len(rows))
        bar.close()
        manifest = {
            "format_version": FORMAT_VERSION,
            "options": options,
            "shards": shards,
            "tokens": {"dtype": str(train_tokens.dtype), "width": int(train_tokens.shape[1])},
            "records": {"train": int(len(train_tokens)), "test": int(len(test_tokens))},
        }
        stage.manifest = manifest
    return out


def _write_one(
    path: Path, part: str, key: int | None, tokens: np.ndarray, labels: np.ndarray | None, index: np.ndarray
) -> dict:
    data, offsets = encode_records(tokens, labels, index)
    idx = index_text(offsets)
    path.write_bytes(data.tobytes())
    path.with_suffix(".idx").write_bytes(idx)
    return {
        "file": path.name,
        "index": path.with_suffix(".idx").name,
        "part": part,
        "key": key,
        "records": int(len(index)),
        "bytes": int(len(data)),
        "sha256": hashlib.sha256(data).hexdigest(),
        "index_bytes": len(idx),
        "index_sha256": hashlib.sha256(idx).hexdigest(),
    }


# ---------------------------------------------------------------------------- checking
def check_shards(out: Path, shards: list[dict], verify: str = "size", threads: int = 8) -> None:
    """Before reading: every shard present at its recorded size (``verify=checksum``: and SHA-256);
    a missing or wrong index file is rebuilt from the shard's framing."""
    if verify not in ("size", "checksum"):
        raise InputError(f"loader.verify must be size or checksum (got {verify!r})")

    def one(s: dict) -> None:
        path = out / s["file"]
        if not path.exists():
            raise InputError(f"TFRecord shard {path} is missing; {_REWRITE}")
        if path.stat().st_size != s["bytes"]:
            raise InputError(
                f"TFRecord shard {path} has {path.stat().st_size} bytes, its manifest says {s['bytes']} (truncated or "
                f"replaced); {_REWRITE}"
            )
        if verify == "checksum" and _sha256(path) != s["sha256"]:
            raise InputError(f"TFRecord shard {path} does not match its SHA-256 checksum (corrupt); {_REWRITE}")
        idx = out / s["index"]
        if (
            not idx.exists()
            or idx.stat().st_size != s["index_bytes"]
            or (verify == "checksum" and _sha256(idx) != s["index_sha256"])
        ):
            offsets = scan_shard(path)
            if len(offsets) - 1 != s["records"]:
                raise InputError(
                    f"TFRecord shard {path} holds {len(offsets) - 1} records, its manifest says {s['records']}; "
                    f"{_REWRITE}"
                )
            with atomic_path(idx) as tmp:
                tmp.write_bytes(index_text(offsets))

    with ThreadPoolExecutor(max(1, min(threads, len(shards)))) as pool:
        list(pool.map(one, shards))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    return h.hexdigest()
