"""``tokenizer=atom``: SMILES split into atoms and bonds, one id per token.

The split is the regular expression of Schwaller et al. (Molecular Transformer) that BELKA's
best Transformers used (:data:`SMILES_REGEX`): a bracket atom (``[C@@H]``, ``[N+]``, ``[Dy]``)
is one token, as are ``Br``, ``Cl``, two-digit ring bonds (``%10``), and every other atom, bond,
branch and ring-bond digit is a token of its own.

It runs on the prepared character codes, compiled (numba): one pass finds each token and a
64-bit hash of its characters, and ids are looked up by hash. BELKA's 99M molecules take
minutes, where a string tokenizer takes hours. :func:`atom_tokens` is the same split on a
Python string (the reference the tests hold the compiled one to).

The vocabulary is built from the data (every train and test molecule of the prepared
directory), most frequent first, and saved as ``vocab.json`` in ``tokenizer.path``. Ids:
0 = ``<pad>``, 1 = ``<unk>`` (a token the vocabulary has not seen), then the tokens; no start or
end token. The ids are symbols with 0 as padding, like the character codes, so every model
that reads characters (CNN, Transformer, …) reads them, with the vocabulary size of the data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from numba import njit

from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path
from belka_lab.core.progress import bar as progress_bar
from belka_lab.tokens.characters import CHAR_VOCAB, encode

SMILES_REGEX = r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9])"
SPECIALS = ("<pad>", "<unk>")  # ids 0 and 1
VOCAB_FILE = "vocab.json"
_PATTERN = re.compile(SMILES_REGEX)
_CHAR = {code: ch for ch, code in CHAR_VOCAB.items()}

# what the compiled split needs to know of each character code
_OTHER, _OPEN, _CLOSE, _B, _R, _C, _L, _PERCENT, _DIGIT = range(9)
_KIND = np.full(256, _OTHER, np.uint8)
for _ch, _k in {"[": _OPEN, "]": _CLOSE, "B": _B, "r": _R, "C": _C, "l": _L, "%": _PERCENT}.items():
    if _ch in CHAR_VOCAB:
        _KIND[CHAR_VOCAB[_ch]] = _k
for _d in "0123456789":
    if _d in CHAR_VOCAB:
        _KIND[CHAR_VOCAB[_d]] = _DIGIT


def atom_tokens(smiles: str) -> list[str]:
    """The regex split of one SMILES string; an error names what the expression does not cover."""
    tokens = _PATTERN.findall(smiles)
    if "".join(tokens) != smiles:
        raise InputError(
            f"SMILES {smiles!r} has characters the atom tokenizer does not split: {_PATTERN.sub('', smiles)!r}"
        )
    return tokens


@njit(cache=True)
def _split(codes, kind, keys, check, starts, lengths, counts, bad):  # pragma: no cover - compiled
    """Per row of codes [n, L]: each token's FNV-1a hash (``keys``), a second hash (``check``), start
    and length; ``counts`` tokens per row; ``bad`` rows with an unclosed bracket or a stray ``%``."""
    n, width = codes.shape
    prime = np.uint64(1099511628211)
    for i in range(n):
        p = 0
        t = 0
        while p < width and codes[i, p] != 0:
            k = kind[codes[i, p]]
            q = p + 1
            if k == 1:  # "[" … "]"
                while q < width and codes[i, q] != 0 and kind[codes[i, q - 1]] != 2:
                    q += 1
                if kind[codes[i, q - 1]] != 2:
                    bad[i] = True
            elif k == 3 and q < width and kind[codes[i, q]] == 4:  # Br
                q += 1
            elif k == 5 and q < width and kind[codes[i, q]] == 6:  # Cl
                q += 1
            elif k == 7:  # %nn
                if q + 1 < width and kind[codes[i, q]] == 8 and kind[codes[i, q + 1]] == 8:
                    q += 2
                else:
                    bad[i] = True
            h = np.uint64(14695981039346656037)
            g = np.uint64(7809847782465536322)
            for j in range(p, q):
                c = np.uint64(codes[i, j])
                h = (h ^ c) * prime
                g = (g ^ (c + np.uint64(131))) * prime
            keys[i, t] = h
            check[i, t] = g
            starts[i, t] = p
            lengths[i, t] = q - p
            t += 1
            p = q
        counts[i] = t


def split_codes(codes: np.ndarray):
    """(keys, check, starts, lengths, counts, bad) of :func:`_split` for character codes [n, L]."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n, width = codes.shape
    keys = np.zeros((n, width), np.uint64)
    check = np.zeros((n, width), np.uint64)
    starts = np.zeros((n, width), np.int16)
    lengths = np.zeros((n, width), np.int16)
    counts = np.zeros(n, np.int64)
    bad = np.zeros(n, np.bool_)
    _split(codes, _KIND, keys, check, starts, lengths, counts, bad)
    return keys, check, starts, lengths, counts, bad


def _text(codes_row: np.ndarray, start: int, length: int) -> str:
    return "".join(_CHAR.get(int(c), "?") for c in codes_row[start : start + length] if c != 0)


class AtomTokenizer:
    """The vocabulary and the lookups. ``tokens`` are the vocabulary without the two specials."""

    pad_token_id, unk_token_id = 0, 1

    def __init__(self, tokens: list[str]):
        self.tokens = list(tokens)
        self.vocab = {t: i for i, t in enumerate([*SPECIALS, *self.tokens])}
        codes = encode(self.tokens, max_len=max([len(t) for t in self.tokens], default=1), unknown="unk")
        keys, _, _, _, counts, _ = split_codes(codes)
        if len(self.tokens) and not (counts == 1).all():
            raise InputError(f"atom vocabulary: {self.tokens[int(np.argmax(counts != 1))]!r} is not a single token")
        single = np.array([len(t) == 1 for t in self.tokens], bool)
        self._by_code = np.full(256, self.unk_token_id, np.uint16)  # one-character tokens, by code
        self._by_code[codes[single, 0]] = np.flatnonzero(single) + len(SPECIALS)
        order = np.flatnonzero(~single)[np.argsort(keys[~single, 0])]
        self._keys = keys[order, 0]  # longer tokens, by hash
        self._ids = (order + len(SPECIALS)).astype(np.uint16)

    def __len__(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    # ------------------------------------------------------------------ from codes (the cache) or strings
    def encode_codes(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids uint16 [n, L], tokens per row) for character codes [n, L]; 0 pads, 1 = unknown token.
        One-character tokens are looked up by code, longer ones by hash."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        keys, _, starts, lengths, counts, bad = split_codes(codes)
        if bad.any():
            row = int(np.argmax(bad))
            raise InputError(f"row {row}: {_text(codes[row], 0, codes.shape[1])!r} has an unclosed '[' or a stray '%'")
        valid = np.arange(keys.shape[1])[None, :] < counts[:, None]
        ids = self._by_code[np.take_along_axis(codes, starts.astype(np.int64), axis=1)]
        multi = valid & (lengths > 1)
        k = keys[multi]
        pos = np.searchsorted(self._keys, k).clip(0, max(len(self._keys) - 1, 0))
        found = self._keys[pos] == k if len(self._keys) else np.zeros(len(k), bool)
        ids[multi] = np.where(found, self._ids[pos] if len(self._ids) else 0, self.unk_token_id)
        ids[~valid] = self.pad_token_id
        return ids, counts

    def __call__(self, smiles: list[str], add_special_tokens: bool = True) -> dict:
        """Token ids of SMILES strings (``input_ids``), as a Hugging Face tokenizer returns them."""
        ids, counts = self.encode_codes(encode(list(smiles), unknown="unk"))
        return {"input_ids": [row[:n].tolist() for row, n in zip(ids, counts)]}

    def decode(self, ids) -> str:
        names = [*SPECIALS, *self.tokens]
        return "".join(names[i] for i in ids if i != self.pad_token_id)

    # ------------------------------------------------------------------ built from data, saved, loaded
    @classmethod
    def from_codes(cls, parts, progress: bool = False, chunk: int = 200_000) -> AtomTokenizer:
        """The vocabulary of every token in `parts` (arrays of character codes [n, L]), most frequent first."""
        counts: dict[str, int] = {}
        total = sum(len(p) for p in parts)
        bar = progress_bar(total, "atom vocabulary", enabled=progress)
        for part in parts:
            for lo in range(0, len(part), chunk):
                codes = np.ascontiguousarray(part[lo : lo + chunk], dtype=np.uint8)
                keys, check, starts, lengths, n_tokens, bad = split_codes(codes)
                if bad.any():
                    row = lo + int(np.argmax(bad))
                    raise InputError(
                        f"molecule {row}: an unclosed '[' or a stray '%' (the atom tokenizer splits on them)"
                    )
                valid = np.arange(keys.shape[1])[None, :] < n_tokens[:, None]
                single = valid & (lengths == 1)  # counted by code
                first = np.take_along_axis(codes, starts.astype(np.int64), axis=1)
                for code, m in enumerate(np.bincount(first[single], minlength=256).tolist()):
                    if m:
                        name = _CHAR.get(code, "?")
                        counts[name] = counts.get(name, 0) + m
                rows, cols = np.nonzero(valid & (lengths > 1))  # counted by hash, one example each named
                k, c = keys[rows, cols], check[rows, cols]
                order = np.argsort(k, kind="stable")
                k, c, rows, cols = k[order], c[order], rows[order], cols[order]
                new = np.r_[True, k[1:] != k[:-1]] if len(k) else np.zeros(0, bool)
                if len(k) and (c[1:] != c[:-1])[~new[1:]].any():
                    raise InputError("atom tokenizer: two different tokens share a 64-bit hash; report this")
                heads = np.flatnonzero(new)
                for h, m in zip(heads, np.diff(np.r_[heads, len(k)]).tolist()):
                    name = _text(codes[rows[h]], int(starts[rows[h], cols[h]]), int(lengths[rows[h], cols[h]]))
                    counts[name] = counts.get(name, 0) + m
                bar.update(len(codes))
        bar.close()
        return cls(sorted(counts, key=lambda name: (-counts[name], name)))

    def save(self, out_dir: Path) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_dir / VOCAB_FILE) as tmp:
            tmp.write_text(json.dumps({"specials": list(SPECIALS), "tokens": self.tokens}, indent=1))

    @classmethod
    def load(cls, path: Path) -> AtomTokenizer:
        f = Path(path) / VOCAB_FILE
        if not f.exists():
            raise InputError(
                f"{f} does not exist: the atom vocabulary is built there from the prepared data on first use"
            )
        data = json.loads(f.read_text())
        return cls(data["tokens"])
