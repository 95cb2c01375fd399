"""What scores a chunk of molecules: a finished training run, a baseline run, a blend of runs,
or an exported model file.

Every scorer has ``targets`` (the names of its outputs), ``score(smiles, blocks) -> Scored``
(values [n, T], probabilities or log10 enrichment, NaN on the rows it cannot score, and those
rows with why; ``blocks``: the input's building-block columns, one array per cycle, or None when
it has none — what a network reading blocks scores from), ``place(fabric)`` (the model onto the
process's device, in the precision asked for) and ``blocks`` (the building blocks of its
training molecules, or None when unknown). :func:`load` chooses by what the directory holds:

- a training run (``belka train``): its best checkpoint, its composed config, the token ids its
  data module served;
- a baseline run (``belka baseline``): the saved tree models and the ECFP settings;
- a blend run (``belka blend``): its runs with its weights (mean or optuna; a rank blend ranks
  within one set and cannot score molecules one chunk at a time);
- ``runs=[...]`` with ``weights``: a blend made here;
- ``model_file=x.onnx`` (ONNX Runtime) or ``x.pt`` (TorchScript), with the ``.json`` that
  ``belka export`` wrote beside it.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from hydra.utils import get_class
from omegaconf import OmegaConf

from belka_lab import run
from belka_lab.core.errors import InputError
from belka_lab.dataset.read import load_torch, read_json
from belka_lab.dataset.schema import BELKA_TARGETS
from belka_lab.dataset.supervision import Values
from belka_lab.features.encoders import BlocksEncoder, Encoded, encode_ecfp, encoder
from belka_lab.features.fingerprints import ECFPConfig, to_csr
from belka_lab.screen import runs as finished
from belka_lab.screen.exported import Exported
from belka_lab.tokens.spec import TokenSpec


@dataclass
class Scored:
    values: np.ndarray  # float32 [n, T], NaN on rows that could not be scored
    bad: np.ndarray  # int64 rows that could not
    why: list[str]
    spread: np.ndarray | None = None  # a blend's: the weighted standard deviation of its runs [n, T]


def _scored(encoded: Encoded, good_values: np.ndarray) -> Scored:
    """The values of the rows that could be encoded, NaN on the others."""
    values = np.full((len(encoded.ids), good_values.shape[1]), np.nan, np.float32)
    values[encoded.good] = good_values
    return Scored(values, encoded.bad, encoded.why)


# ---------------------------------------------------------------------- neural networks
class TorchScorer:
    """A backbone ``forward(tokens, mask) -> logits`` and the encoder of its token ids."""

    def __init__(
        self,
        backbone: torch.nn.Module,
        spec: TokenSpec,
        batch_size: int,
        precision: str,
        what: str,
        targets: tuple[str, ...],
        readout: torch.nn.Module,
        blocks: list[str] | None = None,
    ):
        self.model, self.targets, self.readout = backbone.eval(), tuple(targets), readout
        self.values = readout.values
        self.spec = spec
        self.encoder = BlocksEncoder(spec, blocks, backbone.add_blocks) if spec.is_blocks else encoder(spec)
        self.batch_size, self.precision, self.what = int(batch_size), precision, what
        self.blocks: list[str] | None = None
        self.device, self.autocast = torch.device("cpu"), nullcontext

    def place(self, fabric) -> None:
        self.model = fabric.to_device(fabric.strategy.precision.convert_module(self.model))
        self.device, self.autocast = fabric.device, fabric.autocast

    def score(self, smiles: pa.Array, blocks: list[pa.Array] | None = None) -> Scored:
        if self.spec.is_blocks and (blocks is None or len(blocks) != self.spec.width):
            raise InputError(
                f"{self.what} scores a compound by its {self.spec.width} building blocks: give the input one column "
                f"per cycle and name them with block_columns=[…] ({'none found' if blocks is None else len(blocks)})"
            )
        encoded = self.encoder.encode(blocks if self.spec.is_blocks else smiles)
        ids = encoded.ids[encoded.good]
        out = np.empty((len(ids), len(self.targets)), np.float32)
        with torch.inference_mode(), self.autocast():
            for lo in range(0, len(ids), self.batch_size):
                tokens = torch.from_numpy(ids[lo : lo + self.batch_size]).to(self.device, non_blocking=True).long()
                logits = self.model(tokens, tokens != self.spec.pad_id)
                out[lo : lo + len(tokens)] = self.readout(logits).cpu().numpy()
        return _scored(encoded, out)


def _training_run(run_dir: Path, results: dict, batch_size: int | None, precision: str | None) -> TorchScorer:
    cfg = finished.run_config(run_dir)
    dm = finished.run_data(cfg, run_dir)
    loss = run.loss(cfg, dm)  # what the network's head holds and what its outputs become
    backbone = run.backbone(cfg, dm, loss.n_outputs)
    ckpt = finished.checkpoint(run_dir, results)
    state = load_torch(ckpt, "a readable checkpoint").get("state_dict")
    if state is None:
        raise InputError(f"{ckpt} is not a Lightning checkpoint (it has no state_dict); train the run again")
    weights = {
        k.removeprefix("backbone.").replace("_orig_mod.", ""): v for k, v in state.items() if k.startswith("backbone.")
    }
    missing, unexpected = backbone.load_state_dict(weights, strict=False)
    if missing:
        raise InputError(f"{ckpt} does not hold the weights of {type(backbone).__name__}: missing {missing[:5]}")
    scorer = TorchScorer(
        backbone,
        dm.token_spec,
        batch_size or int(dm.eval_batch_size),
        precision or str(cfg.trainer.get("precision", "32-true")),
        f"{type(backbone).__name__} run {run_dir} ({ckpt.name})",
        dm.targets,
        loss.readout,
        backbone.block_smiles if dm.token_spec.is_blocks else None,  # the checkpoint's blocks, in id order
    )
    scorer.blocks = finished.cached_blocks(run_dir, dm)
    return scorer


# ---------------------------------------------------------------------- tree models
class TreeScorer:
    """A baseline run's tree models on ECFP fingerprints computed here (RDKit)."""

    def __init__(self, model, ecfp, what: str):
        self.model, self.ecfp, self.what = model, ecfp, what
        self.targets = tuple(model.targets)
        self.values = Values(getattr(model, "values", Values.PROBABILITY))
        self.precision = "32-true"
        self.blocks: list[str] | None = None

    def place(self, fabric) -> None:  # tree models run on the CPU
        pass

    def score(self, smiles: pa.Array, blocks: list[pa.Array] | None = None) -> Scored:
        encoded = encode_ecfp(smiles, self.ecfp)
        good = encoded.good
        values = (
            self.model.predict(to_csr(encoded.ids[good], self.ecfp.n_bits))
            if good.any()
            else np.zeros((0, len(self.targets)))
        )
        return _scored(encoded, values)


def _baseline_run(run_dir: Path, results: dict) -> TreeScorer:
    model_dir = run_dir / "model"
    if not model_dir.exists():
        raise InputError(
            f"baseline run {run_dir} has no saved models (model/): runs of belka_lab 0.4.0 and earlier did not "
            f"save them; run the baseline again"
        )
    cfg = finished.run_config(run_dir)
    model = get_class(results["baseline"]).load(model_dir)
    ecfp = ECFPConfig(**OmegaConf.to_container(cfg.ecfp, resolve=True))
    scorer = TreeScorer(model, ecfp, f"{results['baseline'].rsplit('.', 1)[-1]} run {run_dir}")
    scorer.blocks = finished.cached_blocks(run_dir, finished.run_data(cfg, run_dir))
    return scorer


# ---------------------------------------------------------------------- blends
class BlendScorer:
    """Σ weight · value of its scorers, and their weighted standard deviation (the ensemble's
    spread); a row any of them cannot score is not scored."""

    def __init__(self, scorers: list, weights: list[float], what: str):
        self.scorers, self.weights, self.what = scorers, np.asarray(weights, np.float64), what
        self.precision = scorers[0].precision
        self.blocks = scorers[0].blocks
        self.targets, self.values = scorers[0].targets, scorers[0].values
        for s in scorers[1:]:
            if s.values != self.values:
                raise InputError(
                    f"{s.what} predicts {s.values} but {scorers[0].what} predicts {self.values}: a weighted blend "
                    f"needs one kind of value (belka blend method=rank ranks them instead)"
                )
            if s.targets != self.targets:
                raise InputError(
                    f"{s.what} predicts {', '.join(s.targets)} but {scorers[0].what} predicts "
                    f"{', '.join(self.targets)}: blend runs of the same targets"
                )

    def place(self, fabric) -> None:
        for s in self.scorers:
            s.place(fabric)

    def score(self, smiles: pa.Array, blocks: list[pa.Array] | None = None) -> Scored:
        parts = [s.score(smiles, blocks) for s in self.scorers]
        reasons: dict[int, str] = {}
        for p in parts:
            for row, why in zip(p.bad.tolist(), p.why):
                reasons.setdefault(row, why)
        each = np.stack([p.values for p in parts]).astype(np.float64)
        mean = np.tensordot(self.weights, each, 1)
        spread = np.sqrt(np.tensordot(self.weights, (each - mean) ** 2, 1)).astype(np.float32)
        values = mean.astype(np.float32)
        bad = np.array(sorted(reasons), np.int64)
        values[bad] = np.nan
        spread[bad] = np.nan
        return Scored(values, bad, [reasons[r] for r in bad.tolist()], spread)


def _blend(dirs: list[str], weights: list[float] | None, batch_size, precision, what: str | None = None) -> BlendScorer:
    if len(dirs) < 2:
        raise InputError("runs=[dir1,dir2,...]: a blend needs at least two runs (or give run=<dir>)")
    weights = [1.0 / len(dirs)] * len(dirs) if weights is None else [float(w) for w in weights]
    if len(weights) != len(dirs) or min(weights) < 0 or sum(weights) <= 0:
        raise InputError(f"weights={weights}: give one non-negative weight per run ({len(dirs)} runs)")
    weights = [w / sum(weights) for w in weights]
    scorers = [load(run=d, batch_size=batch_size, precision=precision) for d in dirs]
    names = ", ".join(f"{Path(d).name} {w:.3f}" for d, w in zip(dirs, weights))
    return BlendScorer(scorers, weights, what or f"blend of {names}")


# ---------------------------------------------------------------------- exported files
class ExportedScorer:
    """An exported network (``belka export``): ONNX Runtime for ``.onnx``, TorchScript for ``.pt``."""

    def __init__(self, path: Path, batch_size: int | None):
        sidecar = path.with_suffix(".json")
        if not sidecar.exists():
            raise InputError(f"{path} has no {sidecar.name} beside it: export the model with belka export")
        info = read_json(sidecar, "export description")
        lacking = [k for k in ("format", "tokens", "input_dtype") if k not in info]
        if lacking:
            raise InputError(
                f"{sidecar} is not the description belka export writes (it lacks {', '.join(lacking)}); "
                f"export the model again"
            )
        self.spec = TokenSpec.from_json(info["tokens"])
        if self.spec.path is not None:
            self.spec = TokenSpec.from_json({**info["tokens"], "path": str(path.parent / self.spec.path)})
        self.encoder, self.dtype = encoder(self.spec), np.dtype(info["input_dtype"])
        self.batch_size = int(batch_size or info.get("batch_size", 4096))
        self.precision, self.what = "32-true", f"{info['format']} file {path}"
        self.blocks = info.get("training_blocks")
        self.targets = tuple(info.get("targets", BELKA_TARGETS))  # exports of 0.6.0 and earlier: BELKA's three
        self.values = Values(info.get("values", Values.PROBABILITY))
        self.run = Exported(path)

    def place(self, fabric) -> None:  # exported files run on the CPU here
        pass

    def score(self, smiles: pa.Array, blocks: list[pa.Array] | None = None) -> Scored:
        encoded = self.encoder.encode(smiles)
        ids = encoded.ids[encoded.good].astype(self.dtype)
        out = np.empty((len(ids), len(self.targets)), np.float32)
        with torch.inference_mode():
            for lo in range(0, len(ids), self.batch_size):
                out[lo : lo + self.batch_size] = self.run(np.ascontiguousarray(ids[lo : lo + self.batch_size]))
        return _scored(encoded, out)


# ---------------------------------------------------------------------- choosing one
def load(
    run: str | None = None,
    runs: list[str] | None = None,
    weights: list[float] | None = None,
    model_file: str | None = None,
    batch_size: int | None = None,
    precision: str | None = None,
):
    """The scorer for exactly one of ``run``, ``runs`` or ``model_file``."""
    given = [name for name, v in (("run", run), ("runs", runs), ("model_file", model_file)) if v]
    if len(given) != 1:
        raise InputError(
            "say what scores the molecules with exactly one of run=<run dir>, runs=[dir1,dir2] or model_file=<x.onnx>"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if model_file:
        path = Path(model_file)
        if not path.exists() or path.suffix not in (".onnx", ".pt"):
            raise InputError(
                f"model_file={model_file}: give an existing .onnx or TorchScript .pt file from belka export"
            )
        return ExportedScorer(path, batch_size)
    if runs:
        return _blend(list(runs), weights, batch_size, precision)
    run_dir = Path(run)
    if not run_dir.is_dir():
        raise InputError(f"run={run}: not a directory")
    results = finished.run_results(run_dir)
    if "method" in results and "runs" in results:
        if results["method"] == "rank":
            raise InputError(
                f"{run_dir} is a rank blend: ranks are taken within one set of molecules, so it cannot score a file "
                f"chunk by chunk; blend with method=mean or optuna, or give runs=[...] with weights=[...]"
            )
        return _blend(
            results["runs"], results["weights"], batch_size, precision, f"{results['method']} blend {run_dir}"
        )
    if "baseline" in results:
        return _baseline_run(run_dir, results)
    return _training_run(run_dir, results, batch_size, precision)
