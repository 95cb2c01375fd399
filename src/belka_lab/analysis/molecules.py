"""SMILES read by RDKit for the structures drawn and the hit list's clustering, without RDKit's
line per molecule it cannot parse ("Explicit valence …"): the caller counts those compounds and
says so once."""

from __future__ import annotations

from rdkit import Chem, rdBase


def parse(smiles) -> list:
    """Each SMILES as an RDKit molecule, None where RDKit cannot parse it (or it is empty). RDKit's
    log is blocked while parsing and restored as it was afterwards."""
    with rdBase.BlockLogs():
        return [Chem.MolFromSmiles(s) if s else None for s in smiles]
