"""Molecule graphs for the message-passing network (``model=graph``), featurized once by
chemprop's own featurizer and cached beside the prepared data as fixed-width byte rows.

chemprop v2's ``SimpleMoleculeMolGraphFeaturizer`` gives each atom a multi-hot row (element,
degree, formal charge, chirality, hydrogens, hybridization, aromaticity: 71 bits) and its mass
/ 100, and each bond a 14-bit row (type, conjugation, ring, stereo). A molecule is stored as one
row of bytes, so that the data module serves it as it serves token ids:

    [atoms, bonds,                                  2 bytes
     per atom (``max_atoms``): 71 bits packed (9 bytes), atomic number (1 byte)
     per bond (``max_bonds``): begin atom, end atom, 14 bits packed (2 bytes)]   zeros after the last

    <prepared>/graphs/<key>/{train,test}.npy   uint8 [N, width]   (key: featurizer and limits)
    <prepared>/graphs/<key>/info.json          parameters, counts, width (written last)

The network rebuilds chemprop's graph from a batch of rows on the device (``models/graph.py``):
the bits are unpacked, the mass is the element's standard atomic weight (an isotope label is not
kept), the edges are each bond in both directions as chemprop orders them. Rows are written a
chunk at a time into a memory-mapped file under a temporary name (the whole cache is never in
memory); a molecule RDKit cannot parse, or larger than the limits, is an error naming its rows.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from belka_lab.core.errors import InputError, preview
from belka_lab.core.io import atomic_path
from belka_lab.features.chunks import map_chunks
from belka_lab.tokens.characters import decode

ATOM_BITS, BOND_BITS = 71, 14  # chemprop v2's atom row less its mass; its bond row
ATOM_BYTES, BOND_BYTES = 10, 4  # 9 packed + the atomic number; begin, end, 2 packed
TOO_BIG, UNPARSED = 1, 2


@dataclass(frozen=True)
class GraphConfig:
    max_atoms: int = 64  # heavy atoms per molecule (BELKA's molecules have at most about 50)
    max_bonds: int = 72
    chunk: int = 5_000
    workers: int = 0  # 0: one per CPU core

    def __post_init__(self):
        if not (1 <= self.max_atoms <= 255 and 1 <= self.max_bonds <= 255):
            raise InputError(
                f"data.tokenizer.max_atoms={self.max_atoms}, max_bonds={self.max_bonds}: each is stored in a byte, "
                f"give 1 to 255"
            )

    @property
    def key(self) -> str:
        return f"chemprop-v2-a{self.max_atoms}-b{self.max_bonds}"

    @property
    def width(self) -> int:
        return 2 + self.max_atoms * ATOM_BYTES + self.max_bonds * BOND_BYTES


def require_chemprop():
    """chemprop, or one error saying how to install it."""
    try:
        import chemprop  # heavy
    except ImportError as e:
        raise InputError("model=graph reads chemprop's graphs: pip install -e '.[graph]' (chemprop)") from e
    return chemprop


def _featurizer():
    require_chemprop()
    from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer

    featurizer = SimpleMoleculeMolGraphFeaturizer()
    if (featurizer.atom_fdim, featurizer.bond_fdim) != (ATOM_BITS + 1, BOND_BITS):
        raise RuntimeError(
            f"chemprop's featurizer gives {featurizer.atom_fdim} atom and {featurizer.bond_fdim} bond features, not "
            f"{ATOM_BITS + 1} and {BOND_BITS}: install the chemprop version of pyproject.toml"
        )
    return featurizer


def _graph_chunk(args: tuple[list[str], int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows for a list of SMILES, and each molecule's status (0, TOO_BIG, UNPARSED)."""
    from rdkit import Chem, RDLogger  # heavy

    RDLogger.DisableLog("rdApp.*")
    smiles, max_atoms, max_bonds = args
    featurizer = _featurizer()
    width = 2 + max_atoms * ATOM_BYTES + max_bonds * BOND_BYTES
    out = np.zeros((len(smiles), width), np.uint8)
    status = np.zeros(len(smiles), np.uint8)
    bonds_at = 2 + max_atoms * ATOM_BYTES
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s) if s else None
        if mol is None or mol.GetNumAtoms() == 0:
            status[i] = UNPARSED
            continue
        n, m = mol.GetNumAtoms(), mol.GetNumBonds()
        if n > max_atoms or m > max_bonds:
            status[i] = TOO_BIG
            continue
        graph = featurizer(mol)
        atoms = np.zeros((n, ATOM_BYTES), np.uint8)
        atoms[:, :9] = np.packbits(graph.V[:, :ATOM_BITS].astype(np.uint8), axis=1)
        atoms[:, 9] = [a.GetAtomicNum() for a in mol.GetAtoms()]
        bonds = np.zeros((m, BOND_BYTES), np.uint8)
        bonds[:, :2] = graph.edge_index[:, ::2].T
        bonds[:, 2:] = np.packbits(graph.E[::2].astype(np.uint8), axis=1)
        out[i, :2] = n, m
        out[i, 2 : 2 + n * ATOM_BYTES] = atoms.ravel()
        out[i, bonds_at : bonds_at + m * BOND_BYTES] = bonds.ravel()
    return out, status


def graphs(smiles: list[str], config: GraphConfig = GraphConfig(), progress: bool = False, desc: str = "graphs"):
    """Yield (rows, status) chunk by chunk, in order (status: 0, TOO_BIG or UNPARSED per molecule)."""
    chunks = [
        (smiles[i : i + config.chunk], config.max_atoms, config.max_bonds) for i in range(0, len(smiles), config.chunk)
    ]
    yield from map_chunks(_graph_chunk, chunks, config.workers, len(smiles), desc, progress)


def _raise_bad(part: str, status: np.ndarray, config: GraphConfig) -> None:
    big, bad = np.flatnonzero(status == TOO_BIG), np.flatnonzero(status == UNPARSED)
    if len(bad):
        raise InputError(
            f"RDKit cannot parse {len(bad)} molecules of the prepared {part} part (molecules {preview(bad.tolist())}) "
            f"for the graph network; fix or drop them in the source file"
        )
    if len(big):
        raise InputError(
            f"{len(big)} molecules of the prepared {part} part (molecules {preview(big.tolist())}) have more than "
            f"{config.max_atoms} atoms or {config.max_bonds} bonds; raise data.tokenizer.max_atoms / max_bonds"
        )


def cached_graphs(prepared_dir: str | Path, config: GraphConfig = GraphConfig(), progress: bool = False) -> Path:
    """The graph cache of a prepared directory (written once per parameter set); its directory."""
    prepared_dir = Path(prepared_dir)
    out = prepared_dir / "graphs" / config.key
    info_file = out / "info.json"
    params = {
        "featurizer": "chemprop SimpleMoleculeMolGraphFeaturizer v2",
        "max_atoms": config.max_atoms,
        "max_bonds": config.max_bonds,
        "width": config.width,
    }
    if info_file.exists() and json.loads(info_file.read_text()).get("params") == params:
        return out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    counts = {}
    for part in ("train", "test"):
        codes = np.load(prepared_dir / part / "tokens.npy", mmap_mode="r")
        with atomic_path(out / f"{part}.npy") as tmp:
            rows = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(codes), config.width))
            status = np.zeros(len(codes), np.uint8)
            step = config.chunk * 20  # SMILES decoded a block at a time
            for lo in range(0, len(codes), step):
                smiles = decode(np.asarray(codes[lo : lo + step]))
                at = lo
                for chunk, state in graphs(smiles, config, progress, desc=f"graphs {part}"):
                    rows[at : at + len(chunk)] = chunk
                    status[at : at + len(chunk)] = state
                    at += len(chunk)
            rows.flush()
            del rows
            _raise_bad(part, status, config)
        counts[part] = len(codes)
    with atomic_path(info_file) as tmp:
        tmp.write_text(json.dumps({"params": params, "counts": counts}, indent=1))
    return out
