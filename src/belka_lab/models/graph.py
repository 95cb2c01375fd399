"""chemprop v2's directed message passing (D-MPNN) as a backbone: the field's standard graph
network, read from the ``chemprop`` package itself.

It reads ``tokenizer=graph``: each molecule's chemprop graph, featurized once at prepare and
cached as a row of bytes (``features/graphs.py``). A batch of rows becomes chemprop's batched
graph on the device — atom rows (71 bits unpacked, the element's mass / 100), each bond as two
directed edges in chemprop's order, the reverse-edge index, the molecule of each atom — and goes
through chemprop's ``BondMessagePassing`` (``depth`` steps, hidden ``d_h``), a mean over each
molecule's atoms (chemprop's default readout) and an MLP head with the outputs of the run's loss:

    rows [B, width] → BatchMolGraph → BondMessagePassing → mean over atoms → MLP → outputs [B, n_outputs]
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from belka_lab.features.graphs import ATOM_BITS, ATOM_BYTES, BOND_BITS, BOND_BYTES, require_chemprop
from belka_lab.models.fp_mlp import unpacking_table


class Graphs(NamedTuple):
    """What chemprop's message passing reads of a ``BatchMolGraph``."""

    V: torch.Tensor  # float [atoms, 72]
    E: torch.Tensor  # float [edges, 14]
    edge_index: torch.Tensor  # long [2, edges]
    rev_edge_index: torch.Tensor  # long [edges]
    batch: torch.Tensor  # long [atoms]: the molecule of each atom


def atomic_masses() -> torch.Tensor:
    """float [256]: the standard atomic weight of each atomic number (RDKit's periodic table)."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return torch.tensor([0.0] + [table.GetAtomicWeight(z) for z in range(1, 119)] + [0.0] * 137)


class GraphNet(nn.Module):
    reads = "graph"  # chemprop graphs cached at prepare (tokenizer=graph; models/backbone.py)
    export_blocker = (
        "its batched graph has as many rows as the batch has atoms, a data-dependent shape; "
        "`belka predict run=` scores it"
    )

    def __init__(
        self,
        max_atoms: int = 64,
        max_bonds: int = 72,
        d_h: int = 300,
        depth: int = 3,
        dropout: float = 0.0,
        hidden: tuple[int, ...] = (300,),
        n_outputs: int = 3,
    ):
        super().__init__()
        require_chemprop()
        from chemprop.nn import BondMessagePassing

        self.max_atoms, self.max_bonds = int(max_atoms), int(max_bonds)
        self.register_buffer("unpack", unpacking_table(), persistent=False)
        self.register_buffer("mass", atomic_masses() / 100.0, persistent=False)
        self.message_passing = BondMessagePassing(
            d_v=ATOM_BITS + 1, d_e=BOND_BITS, d_h=d_h, depth=depth, dropout=dropout
        )
        layers, width = [], d_h
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.head = nn.Sequential(*layers, nn.Linear(width, n_outputs))

    def graphs(self, tokens: torch.Tensor) -> Graphs:
        """A batch of cached rows [B, width] → chemprop's batched graph."""
        b, a_max, e_max = len(tokens), self.max_atoms, self.max_bonds
        n_atoms, n_bonds = tokens[:, 0], tokens[:, 1]
        atoms = tokens[:, 2 : 2 + a_max * ATOM_BYTES].reshape(b, a_max, ATOM_BYTES)
        bonds = tokens[:, 2 + a_max * ATOM_BYTES :].reshape(b, e_max, BOND_BYTES)
        atom_mask = torch.arange(a_max, device=tokens.device) < n_atoms[:, None]
        bond_mask = torch.arange(e_max, device=tokens.device) < n_bonds[:, None]
        bits = self.unpack[atoms[..., :9]].flatten(-2)[..., :ATOM_BITS]
        V = torch.cat([bits, self.mass[atoms[..., 9]][..., None]], -1)[atom_mask]
        first = (torch.cumsum(n_atoms, 0) - n_atoms)[:, None]  # each molecule's first atom in V
        u, v = (bonds[..., 0] + first)[bond_mask], (bonds[..., 1] + first)[bond_mask]
        E = self.unpack[bonds[..., 2:]].flatten(-2)[..., :BOND_BITS][bond_mask].repeat_interleave(2, 0)
        edge_index = torch.stack([torch.stack([u, v], 1).flatten(), torch.stack([v, u], 1).flatten()])
        rev = torch.arange(len(E), device=tokens.device).reshape(-1, 2).flip(1).flatten()
        batch = torch.arange(b, device=tokens.device)[:, None].expand(b, a_max)[atom_mask]
        return Graphs(V, E, edge_index, rev, batch)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens: long [B, width] cached graph rows; mask: unused → outputs [B, n_outputs]."""
        g = self.graphs(tokens)
        dtype = self.head[-1].weight.dtype
        H = self.message_passing(g._replace(V=g.V.to(dtype), E=g.E.to(dtype)))  # [atoms, d_h]
        total = torch.zeros(len(tokens), H.shape[1], dtype=H.dtype, device=H.device).index_add_(0, g.batch, H)
        count = torch.bincount(g.batch, minlength=len(tokens)).clamp_min(1)
        return self.head(total / count[:, None].to(H.dtype))
