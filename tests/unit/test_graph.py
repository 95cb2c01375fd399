"""The graph network's cache rebuilds chemprop's own batched graph, and the network is chemprop's
message passing with a mean over atoms."""

import numpy as np
import pytest
import torch
from chemprop.data import BatchMolGraph
from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer
from chemprop.nn import MeanAggregation
from rdkit import Chem

from belka_lab.features.graphs import TOO_BIG, UNPARSED, GraphConfig, graphs
from belka_lab.models.graph import GraphNet

SMILES = [
    "C#CC[C@@H](CC(=O)N[Dy])Nc1nc(Nc2ccc(C=C)cc2)nc(Nc2ccc(C=C)cc2)n1",  # a DEL compound with its linker
    "O=C(N[Dy])[C@@H](Cc1ccccc1)Nc1nc(NCCO)nc(NCc2ccc(Br)cc2)n1",
    "C/C=C/C(=O)[O-].[Na+]",  # charges, a double bond's stereo, two fragments
    "CCO",
    "C",  # one atom, no bond
]


def _rows(smiles, config: GraphConfig | None = None):
    rows, status = zip(*graphs(smiles, config or GraphConfig(workers=1)))
    return np.concatenate(rows), np.concatenate(status)


def test_cached_rows_rebuild_chemprops_batched_graph():
    rows, status = _rows(SMILES)
    assert not status.any()
    net = GraphNet(d_h=8, depth=2)
    got = net.graphs(torch.from_numpy(rows).long())
    featurizer = SimpleMoleculeMolGraphFeaturizer()
    want = BatchMolGraph([featurizer(Chem.MolFromSmiles(s)) for s in SMILES])
    torch.testing.assert_close(got.V, want.V, rtol=0, atol=1e-5)  # masses: the element's weight / 100
    assert torch.equal(got.E, want.E)
    assert torch.equal(got.edge_index, want.edge_index) and torch.equal(got.rev_edge_index, want.rev_edge_index)
    assert torch.equal(got.batch, want.batch)


def test_the_network_is_chemprops_message_passing_and_mean_readout():
    rows, _ = _rows(SMILES)
    torch.manual_seed(0)
    net = GraphNet(d_h=8, depth=2, hidden=(4,)).eval()
    featurizer = SimpleMoleculeMolGraphFeaturizer()
    bmg = BatchMolGraph([featurizer(Chem.MolFromSmiles(s)) for s in SMILES])
    with torch.no_grad():
        want = net.head(MeanAggregation()(net.message_passing(bmg), bmg.batch))
        got = net(torch.from_numpy(rows).long(), None)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_a_molecule_too_large_or_unparsable_is_marked_not_truncated():
    rows, status = _rows(["CCCCCCCCCC", "C1CC(", "", "CCO"], GraphConfig(max_atoms=8, max_bonds=8, workers=1))
    assert status.tolist() == [TOO_BIG, UNPARSED, UNPARSED, 0]
    assert not rows[:3].any() and rows[3, :2].tolist() == [3, 2]


@pytest.mark.parametrize("n", [1, 3])
def test_a_batch_scores_each_molecule_as_it_scores_alone(n):
    rows, _ = _rows(SMILES)
    net = GraphNet(d_h=8, depth=2).eval()
    t = torch.from_numpy(rows).long()
    with torch.no_grad():
        together = net(t, None)
        alone = torch.cat([net(t[i : i + n], None) for i in range(0, len(t), n)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
