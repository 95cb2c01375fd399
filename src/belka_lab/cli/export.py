"""``belka export run=<dir> format=onnx|torchscript``: the run's network as a portable file
(``belka_lab/screen/export.py``)."""

from __future__ import annotations

from omegaconf import DictConfig

from belka_lab import run
from belka_lab.cli.command import hydra_command
from belka_lab.screen.export import export


@hydra_command("export")
def main(cfg: DictConfig) -> None:
    run.quiet()
    info = export(cfg.run, cfg.format, cfg.output, int(cfg.check_molecules), float(cfg.tolerance))
    p = info["parity"]
    print(
        f"export: {info['backbone']} → {info['file']} ({info['format']}, tokens {info['input_dtype']} [batch, "
        f"{info['tokens']['width']}] → values [batch, {len(info['targets'])}]); matches PyTorch on "
        f"{p['molecules']} molecules within "
        f"{p['max_abs_diff']:.1e}; encoding in {info['file'].rsplit('.', 1)[0]}.json"
    )
