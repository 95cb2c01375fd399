import numpy as np
import pyarrow.parquet as pq
import pytest

from belka_lab.core.errors import InputError
from belka_lab.tokens.atoms import SPECIALS, AtomTokenizer, atom_tokens
from belka_lab.tokens.characters import encode

REAL_LIKE = {  # BELKA-like and general SMILES, split by hand
    "Br[C@@H](Cl)c1ccc[nH]1": ["Br", "[C@@H]", "(", "Cl", ")", "c", "1", "c", "c", "c", "[nH]", "1"],
    "C(=O)N[Dy]": ["C", "(", "=", "O", ")", "N", "[Dy]"],
    "O=[N+]([O-])c1ccccc1": ["O", "=", "[N+]", "(", "[O-]", ")", "c", "1", "c", "c", "c", "c", "c", "1"],
    "C%10CCCCC%10": ["C", "%10", "C", "C", "C", "C", "C", "%10"],
    "C/C=C\\C": ["C", "/", "C", "=", "C", "\\", "C"],
    "[2H]C([Si](C)(C)C)B(O)O": [
        "[2H]",
        "C",
        "(",
        "[Si]",
        "(",
        "C",
        ")",
        "(",
        "C",
        ")",
        "C",
        ")",
        "B",
        "(",
        "O",
        ")",
        "O",
    ],
    "CC#N.Cl": ["C", "C", "#", "N", ".", "Cl"],
    "c1ccc2c(c1)OCO2": ["c", "1", "c", "c", "c", "2", "c", "(", "c", "1", ")", "O", "C", "O", "2"],
}


def _smiles(library):
    return sorted(
        set(pq.read_table(library / "train.parquet", columns=["molecule_smiles"])["molecule_smiles"].to_pylist())
        | set(pq.read_table(library / "test.parquet", columns=["molecule_smiles"])["molecule_smiles"].to_pylist())
    )


def test_the_regex_split_of_real_like_smiles():
    for smiles, tokens in REAL_LIKE.items():
        assert atom_tokens(smiles) == tokens
    with pytest.raises(InputError, match="does not split: 'X'"):
        atom_tokens("CXC")


def test_compiled_split_equals_the_regex_on_every_synthetic_molecule_and_round_trips(tiny_library):
    smiles = _smiles(tiny_library)
    codes = encode(smiles)
    tok = AtomTokenizer.from_codes([codes[: len(codes) // 2], codes[len(codes) // 2 :]], chunk=300)
    names = [*SPECIALS, *tok.tokens]
    ids, counts = tok.encode_codes(codes)
    assert ids.dtype == np.uint16 and (ids[np.arange(ids.shape[1]) >= counts[:, None]] == 0).all()
    for s, row, n in zip(smiles, ids, counts):
        assert [names[i] for i in row[:n]] == atom_tokens(s)
        assert tok.decode(row) == s
    assert {"[C@@H]", "[Dy]", "Br", "Cl", "[N+]"} <= set(tok.tokens) and 1 not in ids  # no unknown token
    counts_by_hand = {}
    for s in smiles:
        for t in atom_tokens(s):
            counts_by_hand[t] = counts_by_hand.get(t, 0) + 1
    assert tok.tokens == sorted(counts_by_hand, key=lambda t: (-counts_by_hand[t], t))  # most frequent first


def test_unseen_tokens_are_unknown_and_broken_brackets_are_named():
    tok = AtomTokenizer(["C", "c", "1", "[Dy]", "Br"])
    assert tok(["C[Dy]Br", "C[C@H]Cl"])["input_ids"] == [[2, 5, 6], [2, 1, 1]]  # [C@H] and Cl unseen
    with pytest.raises(InputError, match=r"row 1: 'CC\[C' has an unclosed '\['"):
        tok.encode_codes(encode(["CC", "CC[C"]))


def test_the_atom_cache_is_built_once_and_decodes_to_the_molecules(tiny_library, tiny_prepared, tmp_path):
    import shutil

    from belka_lab.tokens.cache import build_cache
    from belka_lab.tokens.characters import decode
    from belka_lab.tokens.spec import TokenizerConfig

    prepared = tmp_path / "prepared"
    shutil.copytree(tiny_prepared, prepared)
    spec = TokenizerConfig(name="atom", path=str(tmp_path / "atom"), batch_rows=1000)
    info = build_cache(spec, prepared)
    tok = AtomTokenizer.load(tmp_path / "atom")
    assert info["vocab_size"] == len(tok) and info["pad_id"] == 0 and info["width"] % 8 == 0
    for part in ("train", "test"):
        ids = np.load(prepared / part / "tokens_atom.npy")
        chars = np.load(prepared / part / "tokens.npy")
        assert [tok.decode(row) for row in ids] == decode(chars)
    stamp = (prepared / "train" / "tokens_atom.npy").stat().st_mtime_ns
    build_cache(spec, prepared)
    assert (prepared / "train" / "tokens_atom.npy").stat().st_mtime_ns == stamp
