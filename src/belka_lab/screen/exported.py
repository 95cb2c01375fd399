"""An exported network loaded once and run: ONNX through ONNX Runtime (CPU), TorchScript through
PyTorch. ``belka export`` checks its files with it and ``belka predict model_file=…`` scores with it."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch

from belka_lab.core.errors import InputError
from belka_lab.dataset.read import check_file, looks_like


def require(module: str) -> None:
    """ONNX export and ONNX Runtime are the ``export`` extra; one error says how to add it."""
    if importlib.util.find_spec(module) is None:
        raise InputError(f"{module} is not installed: pip install 'belka_lab[export]' (ONNX export and ONNX Runtime)")


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():  # TorchScript is deprecated in PyTorch, and says so at every load
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


class Exported:
    """``Exported(path)(ids)``: probabilities [B, 3] of token ids [B, L] (the export's dtype)."""

    def __init__(self, path: Path):
        path = check_file(path, "exported model")
        if path.suffix == ".onnx":
            require("onnxruntime")
            import onnxruntime as ort  # the export extra

            self._module = None
            try:
                self._session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            except Exception as e:  # ONNX Runtime's own exception types, for a file that is not a model
                raise InputError(
                    f"{path} is not an ONNX model ONNX Runtime can load ({looks_like(path)}): {_first_line(e)}"
                ) from None
        else:
            self._session = None
            try:
                self._module = load_torchscript(path)
            except Exception as e:  # torch.jit.load's errors for a file that is not TorchScript
                raise InputError(f"{path} is not a TorchScript model ({looks_like(path)}): {_first_line(e)}") from None

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        if self._session is not None:
            return self._session.run(None, {"tokens": ids})[0]
        with torch.inference_mode():
            return self._module(torch.from_numpy(ids)).numpy()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__
