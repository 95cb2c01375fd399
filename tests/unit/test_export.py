"""Every backbone in conf/model/ exported to ONNX and TorchScript scores like PyTorch, or is
refused with its reason."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate

from belka_lab.core.config import CONFIG_DIR
from belka_lab.core.errors import InputError
from belka_lab.models.losses import Readout
from belka_lab.screen.export import Predicting, write_model
from belka_lab.screen.exported import Exported
from belka_lab.tokens.huggingface import load_tokenizer
from unit.test_models import BLOCKS, MODELS, SMALL, build

pytestmark = pytest.mark.slow  # nine ONNX exports: about a minute


def _model(name: str, tokenizer: Path):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cls = get_class(compose("train", overrides=[f"model={name}"]).model.backbone._target_)
        reads_own = ["tokenizer=pretrained", f"data.tokenizer.path={tokenizer}"] if cls.reads == "tokenizer" else []
        cfg = compose("train", overrides=[f"model={name}", *reads_own, *SMALL.get(cls.__name__, [])])
    if cls.reads == "characters":
        return instantiate(cfg.model.backbone, vocab_size=37).eval(), 0, np.uint8
    if cls.reads in ("fingerprint", "graph"):  # bytes, no padding
        return instantiate(cfg.model.backbone).eval(), 256, np.uint8
    if cls.reads == "blocks":
        return build(cfg.model.backbone).eval(), -1, np.int64
    backbone = instantiate(cfg.model.backbone).eval()
    return backbone, backbone.pad_token_id, np.int64


def _ids(pad: int, dtype, tokenizer: Path | None) -> np.ndarray:
    rng = np.random.default_rng(0)
    if pad == 256:  # a fingerprint's bytes: every value, every position
        return rng.integers(0, 256, (12, 256)).astype(dtype)
    if pad == -1:  # block ids, one per cycle
        return rng.integers(0, BLOCKS, (12, 3)).astype(dtype)
    high = 37 if dtype == np.uint8 else len(load_tokenizer(str(tokenizer)))
    ids = rng.integers(pad + 1 if dtype == np.uint8 else 5, high, (12, 142)).astype(dtype)
    for i, n in enumerate(rng.integers(20, 142, 12)):  # molecules of different lengths, padded
        ids[i, n:] = pad
    return ids


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_backbone_matches_pytorch_or_is_refused_with_its_reason(name, fmt, tmp_path, smiles_tokenizer):
    backbone, pad, dtype = _model(name, smiles_tokenizer)
    model = Predicting(backbone, pad, Readout("sigmoid", 3)).eval()
    ids = _ids(pad, dtype, smiles_tokenizer)
    path = tmp_path / ("m.onnx" if fmt == "onnx" else "m.pt")
    blocker = getattr(backbone, "export_blocker", None)
    if blocker:
        with pytest.raises(
            InputError, match=f"{type(backbone).__name__} cannot be exported to {fmt}: {re.escape(blocker[:40])}"
        ):
            write_model(model, fmt, path, torch.from_numpy(ids[:4]))
        assert not path.exists()
        return
    write_model(model, fmt, path, torch.from_numpy(ids[:4]))
    with torch.inference_mode():
        expected = model(torch.from_numpy(ids)).numpy()
    got = Exported(path)(ids)  # 12 molecules through a graph traced on 4: the batch is free
    assert got.shape == (12, 3)
    assert np.abs(got - expected).max() <= 1e-4


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_failing_exporter_is_one_error_naming_the_model_and_the_reason(tmp_path, fmt):
    class Unexportable(torch.nn.Module):
        def forward(self, tokens, mask):
            return {"logits": tokens.float()}  # not the contract's tensor: tracing fails inside the wrapper

    with pytest.raises(InputError, match=f"Unexportable cannot be exported to {fmt}: AttributeError"):
        write_model(
            Predicting(Unexportable(), 0, Readout("sigmoid", 3)),
            fmt,
            tmp_path / "m.bin",
            torch.ones(2, 5, dtype=torch.uint8),
        )
    assert not list(tmp_path.iterdir())  # nothing half-written
