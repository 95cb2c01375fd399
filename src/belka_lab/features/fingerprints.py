"""ECFP fingerprints of the prepared molecules, cached beside the prepared data as packed bits.

ECFP4 = Morgan fingerprint of radius 2 (Rogers & Hahn 2010), from RDKit's
``rdFingerprintGenerator`` (bit vector, ``n_bits`` long, default 2048). SMILES are recovered
from the prepared character codes, parsed by RDKit in parallel chunks, and the bits are
stored with ``np.packbits`` (n_bits / 8 bytes per molecule):

    <prepared>/fingerprints/ecfp-r2-2048-dykeep/{train,test}.npy   uint8 [N, n_bits/8]
    <prepared>/fingerprints/ecfp-r2-2048-dykeep/info.json          parameters, counts (written last)

``[Dy]`` — the DNA-linker attachment every BELKA molecule carries in the same amide — is
kept by default (``dy="keep"``): it is the same environment in train and test, so it sets the
same few bits everywhere. ``dy="methyl"`` replaces it by a carbon in train and test alike, for
fingerprints comparable with ones of molecules without the linker.

A molecule RDKit cannot parse is an error naming its rows; ``invalid="zeros"`` gives such
molecules an all-zero fingerprint instead and lists them (count and molecule numbers) in
``info.json``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from belka_lab.core.errors import InputError, preview
from belka_lab.core.io import atomic_path
from belka_lab.features.chunks import map_chunks
from belka_lab.tokens.characters import decode


@dataclass(frozen=True)
class ECFPConfig:
    radius: int = 2
    n_bits: int = 2048
    dy: str = "keep"  # keep | methyl
    invalid: str = "error"  # error | zeros: molecules RDKit cannot parse get an all-zero row, listed in info.json
    chunk: int = 20_000
    workers: int = 0  # 0: one per CPU core
    option: str = "ecfp"  # where the user sets these (errors name it): ecfp (baseline) or objective (pretrain)

    @property
    def key(self) -> str:
        return f"ecfp-r{self.radius}-{self.n_bits}-dy{self.dy}"


def _fingerprint_chunk(args: tuple[list[str], int, int, str]) -> tuple[np.ndarray, list[int]]:
    """Packed bits for a list of SMILES, and the positions RDKit could not parse."""
    from rdkit import Chem, RDLogger  # heavy
    from rdkit.Chem import rdFingerprintGenerator  # heavy

    RDLogger.DisableLog("rdApp.*")
    smiles, radius, n_bits, dy = args
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(smiles), n_bits // 8), dtype=np.uint8)
    bad = []
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s.replace("[Dy]", "C") if dy == "methyl" else s)
        if mol is None:
            bad.append(i)
            continue
        out[i] = np.packbits(gen.GetFingerprintAsNumPy(mol).astype(np.uint8))
    return out, bad


def ecfp(
    smiles: list[str], config: ECFPConfig = ECFPConfig(), progress: bool = False, desc: str = "ECFP"
) -> tuple[np.ndarray, list[int]]:
    """(packed ECFP bits [N, n_bits/8], rows RDKit could not parse), computed in parallel chunks.
    Unparsable rows are an error unless ``config.invalid == "zeros"`` (their bits stay 0)."""
    if config.n_bits % 8:
        raise ValueError(f"n_bits must be a multiple of 8 (got {config.n_bits})")
    if config.dy not in ("keep", "methyl"):
        raise ValueError(f"dy must be keep or methyl (got {config.dy!r})")
    if config.invalid not in ("error", "zeros"):
        raise ValueError(f"invalid must be error or zeros (got {config.invalid!r})")
    chunks = [
        (smiles[i : i + config.chunk], config.radius, config.n_bits, config.dy)
        for i in range(0, len(smiles), config.chunk)
    ]
    out, bad = [], []
    for k, (bits, unparsed) in enumerate(
        map_chunks(_fingerprint_chunk, chunks, config.workers, len(smiles), desc, progress)
    ):
        out.append(bits)
        bad.extend(k * config.chunk + i for i in unparsed)
    if bad and config.invalid == "error":
        raise InputError(
            f"RDKit cannot parse {len(bad)} molecules (rows {preview(bad)}), e.g. {smiles[bad[0]]!r}; fix or drop them "
            f"in the source file, "
            f"or set {config.option}.invalid=zeros to give them empty fingerprints (their rows are listed in the "
            "cache's info.json)"
        )
    return (np.concatenate(out) if out else np.zeros((0, config.n_bits // 8), np.uint8)), bad


def unpack(bits: np.ndarray, n_bits: int) -> np.ndarray:
    return np.unpackbits(bits, axis=1, count=n_bits)


def to_csr(bits: np.ndarray, n_bits: int):
    """Packed bits → scipy CSR float32 matrix of 0/1 (fingerprints are sparse: ~50 of 2048 set)."""

    rows, cols = [], []
    step = 200_000
    for start in range(0, len(bits), step):
        r, c = np.nonzero(unpack(bits[start : start + step], n_bits))
        rows.append(r + start)
        cols.append(c)
    rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    cols = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(bits), n_bits))


def cached_ecfp(
    prepared_dir: str | Path, config: ECFPConfig = ECFPConfig(), progress: bool = False
) -> dict[str, np.ndarray]:
    """{"train": bits, "test": bits} for a prepared directory, computed once per parameter set."""
    prepared_dir = Path(prepared_dir)
    out = prepared_dir / "fingerprints" / config.key
    info_file = out / "info.json"
    params = {k: v for k, v in asdict(config).items() if k not in ("chunk", "workers", "invalid", "option")}
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    if info.get("params") == params:
        if info.get("unparsed") and config.invalid == "error":
            parts = ", ".join(f"{k}: {v['count']}" for k, v in info["unparsed"].items())
            raise InputError(
                f"{info_file} lists molecules RDKit cannot parse ({parts}) with empty fingerprints; set "
                f"{config.option}.invalid=zeros "
                f"to use it, or fix the source file"
            )
        return {part: np.load(out / f"{part}.npy", mmap_mode="r") for part in ("train", "test")}
    if out.exists():
        shutil.rmtree(out)
    counts, unparsed = {}, {}
    for part in ("train", "test"):
        codes = np.load(prepared_dir / part / "tokens.npy", mmap_mode="r")
        bits, bad = ecfp(decode(codes), config, progress, desc=f"ECFP {part}")
        if bad:
            unparsed[part] = {"count": len(bad), "molecules": bad}
            print(
                f"ECFP {part}: {len(bad)} molecules RDKit cannot parse got empty fingerprints (molecules "
                f"{preview(bad)}; "
                f"listed in info.json)"
            )
        with atomic_path(out / f"{part}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, bits)
        counts[part] = len(bits)
    with atomic_path(info_file) as tmp:
        tmp.write_text(json.dumps({"params": params, "counts": counts, "unparsed": unparsed}, indent=1))
    return {part: np.load(out / f"{part}.npy", mmap_mode="r") for part in ("train", "test")}
