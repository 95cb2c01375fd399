"""RDKit 2D descriptors of the prepared molecules, cached beside the prepared data.

The targets of ``python -m belka_lab pretrain objective=descriptors`` (multi-task regression, as
the 0.301 RoBERTa of BELKA's 11th place did with 189 of them). ``names`` picks functions of
``rdkit.Chem.Descriptors`` by name; the default is a set of cheap, varied ones (size, polarity,
rings, flexibility, charge), ``all`` every one RDKit has (slow: ~200 descriptors).

    <prepared>/descriptors/<key>/{train,test}.npy   float32 [N, D], NaN where undefined
    <prepared>/descriptors/<key>/info.json          names, mean and std over train, unparsed rows

Values are stored raw; the pretraining batches (``loading/pretrain.py``, ``Targets``) scale them by
the train mean and standard deviation in ``info.json`` and clip them to ±``clip``. A molecule
RDKit cannot parse is an error naming its rows, unless ``invalid="nan"``: its row is NaN, which the loss masks out.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from belka_lab.core.errors import InputError, preview, warn
from belka_lab.core.io import atomic_path
from belka_lab.features.chunks import map_chunks
from belka_lab.tokens.characters import decode

DEFAULT_NAMES = [
    "MolWt",
    "HeavyAtomCount",
    "MolLogP",
    "MolMR",
    "TPSA",
    "LabuteASA",
    "NumHDonors",
    "NumHAcceptors",
    "NumRotatableBonds",
    "NumHeteroatoms",
    "NOCount",
    "NHOHCount",
    "RingCount",
    "NumAromaticRings",
    "NumAliphaticRings",
    "NumSaturatedRings",
    "FractionCSP3",
    "NumValenceElectrons",
    "HallKierAlpha",
    "NumAromaticHeterocycles",
]


@dataclass
class DescriptorConfig:
    names: list[str] | str = field(default_factory=lambda: list(DEFAULT_NAMES))
    invalid: str = "error"  # error | nan: molecules RDKit cannot parse get NaN (masked out of the loss)
    clip: float = 5.0  # standardised values are clipped to ±clip
    chunk: int = 2000
    workers: int | None = None
    option: str = "descriptors"  # where the user sets these (errors name it)

    def resolved(self) -> list[str]:
        from rdkit.Chem import Descriptors  # heavy

        known = dict(Descriptors.descList)
        names = sorted(known) if self.names == "all" else list(self.names)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InputError(
                f"{self.option}.names: RDKit has no descriptor {', '.join(unknown)}; choose from "
                f"rdkit.Chem.Descriptors.descList (e.g. {', '.join(DEFAULT_NAMES[:4])}) or `all`"
            )
        if self.invalid not in ("error", "nan"):
            raise InputError(f"{self.option}.invalid={self.invalid!r}: choose error or nan")
        return names

    @property
    def key(self) -> str:
        digest = hashlib.blake2b(json.dumps(self.resolved()).encode(), digest_size=6).hexdigest()
        return f"rdkit-{len(self.resolved())}-{digest}"


def _chunk(args: tuple[list[str], list[str]]) -> tuple[np.ndarray, list[int]]:
    from rdkit import Chem, RDLogger  # heavy
    from rdkit.Chem import Descriptors  # heavy

    RDLogger.DisableLog("rdApp.*")
    smiles, names = args
    functions = dict(Descriptors.descList)
    out = np.full((len(smiles), len(names)), np.nan, np.float32)
    bad = []
    with np.errstate(all="ignore"):
        for i, s in enumerate(smiles):
            mol = Chem.MolFromSmiles(s)
            if mol is None:
                bad.append(i)
                continue
            for j, name in enumerate(names):
                try:
                    out[i, j] = functions[name](mol)
                except (ValueError, RuntimeError, ZeroDivisionError):
                    pass  # undefined for this molecule: stays NaN, masked out of the loss
    out[~np.isfinite(out)] = np.nan
    return out, bad


def descriptors(
    smiles: list[str], config: DescriptorConfig, progress: bool = False, desc: str = "descriptors"
) -> tuple[np.ndarray, list[int]]:
    """(float32 [N, D] with NaN where undefined, rows RDKit could not parse), in parallel chunks."""
    names = config.resolved()
    chunks = [(smiles[i : i + config.chunk], names) for i in range(0, len(smiles), config.chunk)]
    out, bad = [], []
    for k, (values, unparsed) in enumerate(map_chunks(_chunk, chunks, config.workers, len(smiles), desc, progress)):
        out.append(values)
        bad.extend(k * config.chunk + i for i in unparsed)
    if bad and config.invalid == "error":
        raise InputError(
            f"RDKit cannot parse {len(bad)} molecules (rows {preview(bad)}), e.g. {smiles[bad[0]]!r}; fix or drop them "
            f"in the source file, or set {config.option}.invalid=nan to leave them out of the loss"
        )
    return (np.concatenate(out) if out else np.zeros((0, len(names)), np.float32)), bad


def cached_descriptors(
    prepared_dir: str | Path, config: DescriptorConfig, progress: bool = False
) -> tuple[dict[str, np.ndarray], dict]:
    """({"train": values, "test": values}, info) for a prepared directory, computed once per set of names."""
    names = config.resolved()
    out = Path(prepared_dir) / "descriptors" / config.key
    info_file = out / "info.json"
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    if info.get("names") != names:
        if out.exists():
            shutil.rmtree(out)
        unparsed = {}
        for part in ("train", "test"):
            codes = np.load(Path(prepared_dir) / part / "tokens.npy", mmap_mode="r")
            values, bad = descriptors(decode(codes), config, progress, desc=f"descriptors {part}")
            if bad:
                unparsed[part] = {"count": len(bad), "molecules": bad}
            with atomic_path(out / f"{part}.npy") as tmp, open(tmp, "wb") as f:
                np.save(f, values)
        train = np.load(out / "train.npy", mmap_mode="r")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: said below
            mean, std = np.nanmean(train, axis=0), np.nanstd(train, axis=0)
        for name in np.asarray(names)[np.isnan(mean)]:
            warn(
                f"descriptor {name} is undefined for every train molecule (RDKit gives NaN, e.g. partial charges "
                f"with [Dy]): it is left out of the loss; drop it from {config.option}.names"
            )
        info = {
            "names": names,
            "mean": np.nan_to_num(mean).tolist(),
            "std": np.where(np.nan_to_num(std) > 0, np.nan_to_num(std), 1.0).tolist(),
            "unparsed": unparsed,
        }
        with atomic_path(info_file) as tmp:
            tmp.write_text(json.dumps(info, indent=1))
    elif info.get("unparsed") and config.invalid == "error":
        parts = ", ".join(f"{k}: {v['count']}" for k, v in info["unparsed"].items())
        raise InputError(
            f"{info_file} lists molecules RDKit cannot parse ({parts}); set {config.option}.invalid=nan to leave "
            f"them out of the loss, or fix the source file"
        )
    return {part: np.load(out / f"{part}.npy", mmap_mode="r") for part in ("train", "test")}, info


def config_from(options: dict | None) -> DescriptorConfig:
    return DescriptorConfig(**{k: v for k, v in (options or {}).items() if k in asdict(DescriptorConfig())})
