"""The commands: ``belka <command> [overrides or options]``, or ``python -m belka_lab <command> …``.

Without a command word the job is ``train`` (``python -m belka_lab model=resnet`` trains). Each
command is a module of this package with a ``main()``; the library never imports them.
"""

from __future__ import annotations

import importlib
import sys

from belka_lab.cli import command

COMMANDS = {
    "train": "train one model on one fold, predict validation and test, write the run's outputs",
    "prepare": "Kaggle files → prepared directory (token arrays, labels, folds)",
    "inspect": "what belka_lab reads in a count table's first rows, and a column mapping when it does not fit",
    "pretrain": "pretrain a sequence backbone's encoder: masked tokens, ECFP bits or RDKit descriptors",
    "baseline": "ECFP fingerprints + a tree model per protein, same folds and outputs",
    "blend": "blend finished runs (mean, rank, Optuna weights)",
    "tune": "Optuna search over training overrides",
    "report": "one table and chart of a multirun's runs",
    "submission": "check a submission file",
    "synth": "write a synthetic DEL library in the Kaggle format",
    "predict": "score a molecule file (CSV, parquet, .smi) with a run, a blend or an exported model",
    "export": "a run's network as ONNX or TorchScript, checked against PyTorch",
    "analyze": "synthon tables, cube plots, a diverse hit list with uncertainty, report.html",
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:{width}s}  {what}" for name, what in COMMANDS.items()]
    return "usage: belka <command> [options or Hydra overrides]\n\ncommands (default: train):\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Dispatch to a command. Hydra commands read ``sys.argv``: the command word is taken off it
    here, and the command puts it back once Hydra has parsed it (Lightning's DDP launcher starts
    the other processes with this process's command line)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help") and (len(args) == 1 or args[0] == "help"):
        print(_usage())
        return

    command.LAUNCH_ARGV = [sys.argv[0], *args]
    name = args.pop(0) if args and args[0] in COMMANDS else "train"
    module = importlib.import_module(f"belka_lab.cli.{name}")
    sys.argv = [sys.argv[0], *args]
    code = module.main()
    if isinstance(code, int) and code:
        sys.exit(code)
