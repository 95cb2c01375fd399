"""The synthon network: a block never seen is read by its structure and one shared vector; blocks a
screened file brings are appended as unseen; a compound's missing block reads as nothing."""

import numpy as np
import torch

from belka_lab.models.synthon import SynthonNet


def _net(seen: np.ndarray, bits: np.ndarray | None = None) -> SynthonNet:
    torch.manual_seed(0)
    bits = np.random.default_rng(1).integers(0, 256, (len(seen), 4)).astype(np.uint8) if bits is None else bits
    return SynthonNet(bits=bits, seen=seen, cycles=3, hidden=16, heads=2, id_dropout=0.0).eval()


def _score(net: SynthonNet, ids: list[list[int]]) -> torch.Tensor:
    t = torch.tensor(ids)
    with torch.no_grad():
        return net(t, t >= 0)


def test_an_unseen_block_reads_its_structure_and_the_shared_vector_not_its_id():
    net = _net(np.array([True, True, True, False, False]))
    before = _score(net, [[0, 1, 3], [0, 1, 2]])
    with torch.no_grad():
        net.ids.weight[3] += 5.0  # block 3 is unseen: its own id row is never read
        net.ids.weight[2] += 5.0  # block 2 is seen: its row is
    after = _score(net, [[0, 1, 3], [0, 1, 2]])
    assert torch.equal(before[0], after[0]) and not torch.allclose(before[1], after[1])
    # two unseen blocks share the id vector but not their structure: their compounds differ
    a, b = _score(net, [[0, 1, 3], [0, 1, 4]])
    assert not torch.allclose(a, b)
    with torch.no_grad():
        net.block_bits[4] = net.block_bits[3]  # the same structure: the same compound to the network
    a, b = _score(net, [[0, 1, 3], [0, 1, 4]])
    torch.testing.assert_close(a, b)


def test_appended_blocks_score_as_a_table_that_held_them_unseen():
    bits = np.random.default_rng(2).integers(0, 256, (6, 4)).astype(np.uint8)
    seen = np.array([True, True, True, True, False, False])
    whole = _net(seen, bits)
    grown = _net(seen[:4], bits[:4])
    grown.load_state_dict(
        {k: v for k, v in whole.state_dict().items() if not k.startswith(("block_", "ids."))}, strict=False
    )
    with torch.no_grad():
        grown.ids.weight[:4] = whole.ids.weight[:4]
        grown.ids.weight[4] = whole.ids.weight[6]  # the shared vector
    assert grown.add_blocks(bits[4:]).tolist() == [4, 5]
    ids = [[0, 1, 4], [2, 5, 3], [5, 4, 0]]
    torch.testing.assert_close(_score(grown, ids), _score(whole, ids))


def test_id_dropout_reads_seen_blocks_as_unseen_in_training_only():
    net = _net(np.ones(5, bool))
    net.id_dropout = 1.0  # every block as unseen
    t = torch.tensor([[0, 1, 2]])
    with torch.no_grad():
        net.ids.weight[:5] += 100.0  # the blocks' own rows: never read while they are dropped
        trained = net.train().encode_blocks(t, t >= 0)
        evaluated = net.eval().encode_blocks(t, t >= 0)
    assert trained.abs().max() < 50 < evaluated.abs().max()


def test_a_missing_block_reads_as_no_structure():
    net = _net(np.array([True, True, True, False]))
    t = torch.tensor([[0, 1, -1]])
    with torch.no_grad():
        h = net.encode_blocks(t, t >= 0)[0, 2]
        expected = net.structure(torch.zeros(1, 32))[0] + net.ids.weight[-1] + net.cycle.weight[2]
    torch.testing.assert_close(h, expected)


def test_a_checkpoint_brings_its_own_block_table():
    bits = np.random.default_rng(3).integers(0, 256, (6, 4)).astype(np.uint8)
    torch.manual_seed(0)
    trained = SynthonNet(bits=bits, seen=np.ones(6, bool), cycles=3, smiles=list("abcdef"), hidden=16, heads=2).eval()
    state = trained.state_dict()
    assert state["_extra_state"] == {"smiles": list("abcdef")}
    rebuilt = _net(np.ones(4, bool))  # the data prepared again: another table
    rebuilt.load_state_dict(state)
    assert rebuilt.block_smiles == list("abcdef") and rebuilt.n_blocks == 6
    ids = [[0, 1, 5], [4, 3, 2]]
    torch.testing.assert_close(_score(rebuilt, ids), _score(trained, ids))
