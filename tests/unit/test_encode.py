import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from belka_lab.tokens.characters import (
    CHAR_VOCAB,
    MAX_LEN,
    UNK,
    EncodeError,
    decode,
    encode,
    encode_arrow,
    encode_dict_loop,
)


def test_encoding_equals_notebook_dict_loop_on_synthetic_smiles(tiny_library):
    smiles = pq.read_table(tiny_library / "train.parquet", columns=["molecule_smiles"])["molecule_smiles"]
    ours, n_unk = encode_arrow(smiles)
    assert n_unk == 0
    assert np.array_equal(ours, encode_dict_loop(smiles.to_pylist()))


def test_decode_round_trips_and_pads_with_zero():
    s = ["C#CC[C@@H](CC(=O)N[Dy])Nc1nc(Nc2ccc(C=C)cc2)nc(Nc2ccc(C=C)cc2)n1", "CCO", "".join(CHAR_VOCAB)]
    tokens = encode(s)
    assert tokens.shape == (3, MAX_LEN) and tokens.dtype == np.uint8
    assert decode(tokens) == s
    assert (tokens[1, 3:] == 0).all()


def test_sliced_and_chunked_arrow_arrays_encode_their_own_rows():
    arr = pa.array(["CC", "CCCl", "Br", "O=O"], pa.large_string())
    chunked = pa.chunked_array([arr.slice(0, 1), arr.slice(1)])
    assert decode(encode_arrow(arr.slice(1, 2))[0]) == ["CCCl", "Br"]
    assert decode(encode_arrow(chunked)[0]) == ["CC", "CCCl", "Br", "O=O"]


def test_strings_longer_than_142_are_reported_by_row():
    with pytest.raises(EncodeError) as e:
        encode(["CC", "C" * 143, "C" * 142])
    assert e.value.rows.tolist() == [1]


def test_unknown_characters_raise_or_map_to_unk():
    with pytest.raises(EncodeError) as e:
        encode(["CC", "CP", "C[Na]", "CCl"])
    assert e.value.rows.tolist() == [1, 2]
    tokens, n_unk = encode_arrow(pa.array(["CP"]), unknown="unk")
    assert n_unk == 1 and tokens[0, 1] == UNK
