# ruff: noqa: E501  (DECISIONS' keys are the commands as the docs print them, however long)
"""Every command the docs show (README.md, docs/*.md: fenced bash/sh/console/shell blocks, and the yaml
blocks saved as conf files) is run here on tiny data, or composed where it needs what a test machine
lacks, or checked as far as a test can; each has a decision in ``DECISIONS`` and a test whose id says
which (``run-…``, ``composed-…``, ``checked-…``, ``listed-…``). A command added to the docs without a
decision fails ``test_every_documented_command_has_a_decision``.

The blocks are read with sybil's markdown ``CodeBlockParser`` (document and line of each). The commands
that run do so as a user types them, through the console script's ``belka_lab.cli.main``, in two child
processes side by side (the binary-label chain and the read-count chain; one import of PyTorch each,
one command after another, each command's output in its own log) inside one working directory, after ``SUBSTITUTIONS``
(placeholders → the fixtures made here) and with ``TINY…`` overrides appended (small data, one short
epoch, small widths, a named output directory). Every ``belka`` command, run or not, is also composed
in-process with Hydra's ``compose`` and the same overrides (multirun sweeps expanded)."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = ("README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")))
SHELL = ("bash", "sh", "console", "shell")
LIBRARY = "data/synthetic-3000-600-seed0-own_library"  # what data.synth.n_train=3000 n_test=600 names
COUNT_RUNS = "logs/train/runs/counts,logs/train/runs/counts-seed1"  # experiment=counts, seeds 42 and 1

# The docs' placeholders → what the test made (applied in order to every command, run or composed).
SUBSTITUTIONS = [
    ("<same overrides>", "debug=tiny"),
    ("<killed run dir>", "logs/train/runs/doc"),
    ("logs/blend/runs/<time>", "logs/blend/runs/mean"),
    (
        "logs/train/multiruns/<time>",
        "logs/train/multiruns/kindel-splits",
    ),  # the sweep that runs here  # a rank blend scores no file: a mean blend's run
    ("<time>", "doc"),  # every run a command refers to is written to logs/<task>/runs/doc here
    ("data/synthetic-200000-30000-seed0-own_library", LIBRARY),
    ("logs/train/runs/<A>,logs/train/runs/<B>,logs/train/runs/<C>", COUNT_RUNS),
    ("<seed 42>,<seed 1>,<seed 2>", COUNT_RUNS),
    ("runs=[A,B,C]", f"runs=[{COUNT_RUNS}]"),
    ("logs/train/runs/A", "logs/train/runs/doc"),
    ("logs/baseline/runs/B", "logs/baseline/runs/doc"),
    ("logs/baseline/runs/C", "logs/baseline/runs/doc"),
    ("<run A>", "logs/train/runs/doc"),
    ("<run B>", "logs/baseline/runs/doc"),
    ("<run>", "logs/train/runs/doc"),
    ("<mlm run>", "logs/pretrain/runs/doc"),
    ("<ecfp run>", "logs/pretrain/runs/doc"),
    ("input=...", "input=library.parquet"),
    (
        "check submission.csv --test test.parquet",
        f"check logs/train/runs/doc/submission.csv --test {LIBRARY}/test.parquet",
    ),
    ("--n-train 1000000", "--n-train 300 --n-test 90"),
    ("hits.margin=0.3", "hits.margin=-10"),  # three batches of training do not separate the targets
    ("hits.margin=0.5", "hits.margin=-10"),
    ("data.split.index=1,2,3,4,5", "data.split.index=1,2"),  # KinDEL's five splits: two here
    ("format=onnx", "format=torchscript"),  # the same export path; ONNX's is tested in test_count_runs.py
    ("export/model.onnx", "export/model.pt"),
]  # and the docs' absolute /data/… is <the working directory>/data/… (substitute())

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
TINY_DATA = ["data.synth.n_train=3000", "data.synth.n_test=600", "data.prepare.progress=false"]
TINY_FIT = ["trainer.max_epochs=1", "+trainer.limit_train_batches=3", "data.batch_size=128", *QUIET]
TINY_CNN = ["model.backbone.embed_dim=16", "model.backbone.hidden=[64]"]
TINY_TRAIN = [*TINY_DATA, *TINY_FIT, *TINY_CNN]
TINY_COUNTS = ["data.prepare.progress=false", *TINY_FIT, *TINY_CNN]
TINY_SELECTION = ["data.simulate.n_compounds=3000", "+data.simulate.n_heldout=200", *TINY_COUNTS]
TINY_BASELINE = [*TINY_DATA, "ecfp.n_bits=256", "baseline.num_boost_round=15", "baseline.log_every=0"]
TINY_PREDICT = ["progress=false"]


@dataclass(frozen=True)
class Decision:
    """What the test does with one documented command: ``run`` (on tiny data, in ``chain``), ``composed``,
    ``checked`` (a command of another tool: what a test can check of it) or ``listed`` (nothing to run)."""

    kind: str
    reason: str = ""
    chain: str = ""
    append: tuple[str, ...] = ()
    name: str = ""  # its output directory: logs/<task>/runs/<name> (multiruns/<name> with -m)
    makes: tuple[str, ...] = ()  # files it must have written (relative to the working directory)
    seeds: tuple[int, ...] = ()  # run again with seed=<s> into <name>-seed<s>
    before: tuple[str, ...] = ()  # belka commands (not documented ones) that make what it reads


def run(
    chain: str,
    *append: str,
    name: str = "",
    makes: tuple[str, ...] = (),
    seeds: tuple[int, ...] = (),
    before: tuple[str, ...] = (),
) -> Decision:
    return Decision("run", chain=chain, append=append, name=name, makes=makes, seeds=seeds, before=before)


def composed(reason: str) -> Decision:
    return Decision("composed", reason)


def checked(reason: str) -> Decision:
    return Decision("checked", reason)


def listed(reason: str) -> Decision:
    return Decision("listed", reason)


GPU = "needs a CUDA GPU"
GPUS = "needs several GPUs"
SLURM = "needs a SLURM cluster"
TPU = "needs a TPU VM"
KAGGLE = "needs the real Kaggle competition files (/data/belka)"
BUDGET = "a setting of a command that runs ({}): composed here, for the suite's time"


def variant(of: str) -> Decision:
    return composed(BUDGET.format(of))


# Every documented command (its text without the comment, continuation lines joined) and its decision.
# The runs of one chain go in this order.
DECISIONS: dict[str, Decision] = {
    # --- the binary-label chain: a tiny synthetic library, one run trained, then everything that reads it
    "python -m belka_lab debug=tiny": run(
        "binary", *TINY_TRAIN, name="doc", makes=("logs/train/runs/doc/submission.csv",)
    ),
    "python -m belka_lab predict run=logs/train/runs/<time> input=data/synthetic-200000-30000-seed0-own_library/test.parquet passthrough=[protein_name]": run(
        "binary", *TINY_PREDICT, name="test-set"
    ),
    "python -m belka_lab export run=logs/train/runs/<time> format=onnx": run(
        "binary", name="doc", makes=("logs/train/runs/doc/export/model.pt",)
    ),
    "python -m belka_lab predict model_file=logs/train/runs/<time>/export/model.onnx input=data/synthetic-200000-30000-seed0-own_library/test.parquet": run(
        "binary", *TINY_PREDICT, name="exported-test-set"
    ),
    "belka analyze runs=[logs/train/runs/<time>]": run(
        "binary", name="calibration", makes=("logs/analyze/runs/calibration/report.html",)
    ),
    "python -m belka_lab baseline baseline=lgbm": run("binary", *TINY_BASELINE, name="doc"),
    'python -m belka_lab blend "runs=[logs/train/runs/A,logs/baseline/runs/B]" method=rank': run(
        "binary", name="doc", makes=("logs/blend/runs/doc/results.json",)
    ),
    "python -m belka_lab predict run=logs/train/runs/<time> input=library.parquet": run(
        "binary", *TINY_PREDICT, name="library-parquet"
    ),
    "python -m belka_lab predict run=<run> input=library.csv smiles_column=smiles id_column=name passthrough=[vendor,price]": run(
        "binary", *TINY_PREDICT, name="library-csv"
    ),
    "python -m belka_lab predict run=<run> input=library.smi output=scores/ chunk_rows=1000000": run(
        "binary", *TINY_PREDICT, name="library-smi"
    ),
    'python -m belka_lab predict "runs=[<run A>,<run B>]" weights=[0.3,0.7] input=...': run(
        "binary", *TINY_PREDICT, name="blend-made-here"
    ),
    "python -m belka_lab predict run=logs/blend/runs/<time> input=...": run(
        "binary",
        *TINY_PREDICT,
        name="blend-run",
        before=(
            "blend runs=[logs/train/runs/doc,logs/baseline/runs/doc] method=mean hydra.run.dir=logs/blend/runs/mean",
        ),
    ),
    "python -m belka_lab predict run=logs/baseline/runs/<time> input=...": run(
        "binary", *TINY_PREDICT, name="baseline"
    ),
    "python -m belka_lab export run=<run> format=onnx": run("binary", name="doc"),
    "python -m belka_lab predict model_file=<run>/export/model.onnx input=...": run(
        "binary", *TINY_PREDICT, name="exported"
    ),
    "python -m belka_lab submission check submission.csv --test test.parquet": run("binary"),
    "python -m belka_lab synth data/my-lib --n-train 1000000": run("binary", makes=("data/my-lib/test.parquet",)),
    "python -m belka_lab -m fold=0,1,2": variant("-m … split=kindel data.split.index=1,2,3,4,5"),
    "python -m belka_lab <same overrides> hydra.run.dir=<killed run dir> ckpt_path=last": run("binary", *TINY_TRAIN),
    # (two count tables of their own files here: the two processes then take about equal time)
    "python -m belka_lab data=counts data.root=/data/kindel data.train_file=/data/kindel/mapk14.parquet 'data.prepare.counts.names={target: MAPK14}'": run(
        "binary", *TINY_COUNTS, name="kindel", makes=("logs/train/runs/kindel/results.csv",)
    ),
    "python -m belka_lab data=counts data.root=/data/screen data.train_file=/data/screen/screen.csv 'data.prepare.counts.names={target: MAPK14}' 'data.prepare.counts.controls=[]' data.prepare.counts.load=null data.prepare.counts.score=normalized_z loss=zip callbacks.model_checkpoint.monitor=val/spearman": run(
        "binary", *TINY_COUNTS, name="screen"
    ),
    # --- the read-count chain: the simulated selection, a table of one's own, KinDEL's and DELi's formats
    "python -m belka_lab experiment=counts": run("counts", *TINY_SELECTION, name="counts", seeds=(1,)),
    "python -m belka_lab experiment=counts model=fp_mlp": variant("experiment=counts; every network: the shape matrix"),
    "python -m belka_lab experiment=counts model=synthon": variant(
        "experiment=counts; every network: the shape matrix"
    ),
    "python -m belka_lab experiment=counts model=graph": variant("experiment=counts; every network: the shape matrix"),
    "belka inspect data=selection": run("counts", *TINY_SELECTION[:2], name="selection"),
    "belka inspect data=counts data.root=/data/my_selection": run("counts", name="my-selection"),
    "python -m belka_lab inspect data=counts data.root=/data/my_selection": run("counts", name="my-selection"),
    "python -m belka_lab data=counts data.root=/data/my_selection loss=zip": variant(
        "data=counts data.root=/data/my_selection; loss=zip: experiment=counts"
    ),
    "python -m belka_lab data=counts data.root=/data/my_selection": run("counts", *TINY_COUNTS, name="my-bce"),
    "python -m belka_lab -m data=counts data.root=/data/kindel data.train_file=/data/kindel/ddr1_1M.parquet data.test_file=/data/kindel/heldout data.prepared_dir=/data/kindel/prepared_ddr1 'data.prepare.counts.names={target: DDR1}' data.prepare.affinity.zero_kd=tightest split=kindel data.split.kind=random data.split.index=1,2,3,4,5 callbacks.model_checkpoint.monitor=val/spearman": run(
        "counts", *TINY_COUNTS, name="kindel-splits", makes=("logs/train/multiruns/kindel-splits/1/results.json",)
    ),
    "python -m belka_lab report logs/train/multiruns/<time>": run(
        "counts", makes=("logs/train/multiruns/kindel-splits/summary.csv",)
    ),
    "conf/data/my_deli.yaml": run(
        "counts", "data.prepare.progress=false", name="deli", makes=("data/deli/prepared/manifest.json",)
    ),  # saved in a search path; `belka prepare data=my_deli` prepares a cube
    'belka analyze "runs=[<seed 42>,<seed 1>,<seed 2>]" hits.over=[HSA] hits.margin=0.3 hits.max_control=3': run(
        "counts", name="hits", makes=("logs/analyze/runs/hits/hits.csv",)
    ),
    "belka analyze runs=[logs/train/runs/<A>,logs/train/runs/<B>,logs/train/runs/<C>] hits.over=[HSA] hits.margin=0.3 hits.max_control=3": run(
        "counts", name="hits"
    ),
    "belka analyze runs=[A,B,C] hits.n=100 hits.over=[HSA] hits.margin=0.5 hits.max_control=3": variant(
        'analyze "runs=[<seed 42>,<seed 1>,<seed 2>]" hits.over=[HSA] …'
    ),
    "belka analyze library=data/my_selection/prepared": run(
        "counts", name="observed", makes=("logs/analyze/runs/observed/report.html",)
    ),
    # --- composed: they need what a test machine lacks, or are settings of a command that runs above
    "python -m belka_lab prepare data=belka data.root=/data/belka": composed(KAGGLE),
    "python -m belka_lab data=belka data.root=/data/belka trainer=gpu data.eval_batch_size=16384": composed(
        f"{KAGGLE}; {GPU}"
    ),
    "python -m belka_lab split=bb fold=1": variant("debug=tiny"),
    "python -m belka_lab split=bb callbacks.model_checkpoint.monitor=val/map_non_share": variant("debug=tiny"),
    "python -m belka_lab trainer.val_check_interval=0.25": variant("debug=tiny"),
    "python -m belka_lab trainer.max_epochs=10 data.batch_size=1024 model.optimizer.lr=3e-3": variant("debug=tiny"),
    "python -m belka_lab debug=fdr": variant("debug=tiny"),
    "python -m belka_lab model=se_xception trainer=gpu model.backbone.channels_last=true compile=true": composed(GPU),
    "python -m belka_lab -m model=se_xception model.backbone.width=0.5,1 model.backbone.depth=0.5,1": composed(
        "four SE-Xception trainings: hours on a CPU"
    ),
    "python -m belka_lab pretrain model=transformer": variant("pretrain in test_pretrain_objectives.py"),
    "python -m belka_lab model=transformer model.init_from=logs/pretrain/runs/<time>/encoder.pt": variant(
        "model.init_from in test_pretrain_objectives.py"
    ),
    "python -m belka_lab pretrain model=transformer objective=ecfp model.init_from=<mlm run>/encoder.pt freeze_embeddings=true": variant(
        "pretrain in test_pretrain_objectives.py"
    ),
    "python -m belka_lab pretrain model=transformer objective=descriptors": variant(
        "pretrain in test_pretrain_objectives.py"
    ),
    "python -m belka_lab experiment=first_place": variant("in test_pretrain_objectives.py"),
    "python -m belka_lab model=transformer_small tokenizer=atom loss=focal": variant("in test_train.py"),
    "python -m belka_lab experiment=chemberta": variant("in test_sequence_models.py"),
    "python -m belka_lab experiment=chemberta model.backbone.pretrained=DIR tokenizer=pretrained data.tokenizer.path=DIR model.lr_decay=0.8": composed(
        "needs a saved ChemBERTa model and tokenizer (DIR)"
    ),
    "python -m belka_lab loader=dali trainer=gpu": composed(GPU),
    "python -m belka_lab trainer=gpu data.batch_size=4096 data.eval_batch_size=16384": composed(GPU),
    "python -m belka_lab trainer=gpu model=se_xception model.backbone.channels_last=true compile=true data.batch_size=2048": composed(
        GPU
    ),
    "python -m belka_lab trainer=ddp": composed(GPUS),
    "torchrun --nnodes 2 --nproc-per-node 8 -m belka_lab trainer=ddp trainer.num_nodes=2": composed(
        f"{GPUS} on two nodes"
    ),
    ".venv-tpu/bin/python -m belka_lab model=se_xception trainer=tpu data=belka data.root=/data/belka": composed(
        f"{TPU}; {KAGGLE}"
    ),
    "python -m belka_lab logger=[csv,wandb] logger.wandb.project=belka logger.wandb.tags=[cnn]": composed(
        "W&B online needs an account and the network (test_tracking.py runs it offline)"
    ),
    "WANDB_MODE=offline python -m belka_lab logger=wandb": variant("logger=wandb offline in test_tracking.py"),
    "python -m belka_lab logger=tensorboard": variant("logger=tensorboard in test_tracking.py"),
    "python -m belka_lab -m model.backbone.channels=[32,64,96],[64,128,192] model.optimizer.lr=1e-3,3e-3": variant(
        "-m … split=kindel data.split.index=1,2,3,4,5"
    ),
    "python -m belka_lab tune tune=cnn tune.n_trials=30 trainer.max_epochs=5": variant("tune in test_tune.py"),
    "python -m belka_lab tune tune=se_xception trainer=gpu data=belka data.root=/data/belka": composed(
        f"{GPU}; {KAGGLE}"
    ),
    "python -m belka_lab -m hydra/launcher=slurm hydra.launcher.partition=gpu trainer=gpu fold=0,1,2,3,4": composed(
        SLURM
    ),
    "python -m belka_lab -m hydra/launcher=slurm trainer=ddp hydra.launcher.gpus_per_node=4 hydra.launcher.tasks_per_node=4 seed=1,2": composed(
        SLURM
    ),
    "python -m belka_lab prepare loader=dali": composed(
        "DALI is an optional ~420 MB extra (test_dali.py writes shards)"
    ),
    "python -m belka_lab pretrain model=transformer_small tokenizer=atom objective=mlm trainer.max_epochs=3": variant(
        "pretrain in test_pretrain_objectives.py"
    ),
    "python -m belka_lab pretrain model=transformer_small tokenizer=atom objective=ecfp model.init_from=<mlm run>/encoder.pt": variant(
        "pretrain in test_pretrain_objectives.py"
    ),
    "python -m belka_lab model=transformer_small tokenizer=atom loss=focal model.init_from=<ecfp run>/encoder.pt": variant(
        "model.init_from in test_pretrain_objectives.py"
    ),
    'python -m belka_lab blend "runs=[logs/train/runs/A,logs/train/runs/B,logs/baseline/runs/C]" method=rank': variant(
        "blend runs=[A,B]"
    ),
    "python -m belka_lab predict run=<run> input=shards/ on_invalid=skip trainer=gpu": composed(GPU),
    "python -m belka_lab predict run=<run> input=shards/ trainer=ddp": composed(GPUS),
    "conf/model/<name>.yaml": composed("a template (<name>, <Class>, …): filled with the CNN and composed"),
    # --- other tools: what a test can check of them
    "make run": checked("the target exists (make -n); it is what CI and a new user run: minutes, not a test"),
    "make test": checked("the target exists (make -n); it is the test suite itself"),
    "pip install -e '.[dali]'": checked("the extra exists in pyproject.toml; installing is the Makefile's job"),
    "python3 -m venv .venv-tpu": listed("a new environment for a TPU VM"),
    ".venv-tpu/bin/pip install -e '.[tpu]' -f https://storage.googleapis.com/libtpu-releases/index.html": checked(
        "the extra exists in pyproject.toml; torch_xla's wheels need a TPU VM and the network"
    ),
    "scripts/gpu_check.sh": checked(f"the script exists and bash -n passes; it {GPU}"),
    "scripts/check_xla.sh": checked("the script exists and bash -n passes; it builds its own torch_xla environment"),
    "python scripts/cuda_syncs.py model=cnn": checked(f"the script compiles and its overrides compose; it {GPU}"),
    "wandb sync logs/train/runs/*/wandb/offline-run-*": listed("uploads to W&B: an account and the network"),
    "tensorboard --logdir logs/train": listed("a server that runs until stopped"),
    "optuna-dashboard sqlite:///logs/tune/cnn.db": listed("a server that runs until stopped (a separate package)"),
    **{
        f"python -m benchmarks {suite}": checked("the suite and its options parse; a benchmark takes minutes")
        for suite in ("prepare", "memory", "fingerprints", "loaders", "outputs", "pretrain", "screen")
    },
    "python -m benchmarks step model=resnet data.batch_size=256": checked(
        "the suite and its options parse, its overrides compose; a benchmark takes minutes"
    ),
    "python -m benchmarks predict trainer=gpu": checked(
        f"the suite and its options parse, its overrides compose; it {GPU}"
    ),
}


# --- the documented commands, as sybil finds them


@dataclass(frozen=True)
class DocCommand:
    doc: str
    line: int
    text: str  # a shell command without its comment; for a yaml block, the conf file it is saved as
    yaml: str | None = None  # the block, for a yaml block

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def _split(line: str) -> list[str]:
    """A shell line without its comment, split at ``&&`` (quotes respected), whitespace collapsed."""
    parts, current, quote = [], "", None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (not current or current[-1].isspace()):
            break
        elif c == "&" and line[i : i + 2] == "&&":
            parts.append(current)
            current = ""
            continue
        elif c == "&" and line[i - 1 : i + 1] == "&&":
            continue
        current += c
    return [" ".join(p.split()) for p in [*parts, current] if p.strip()]


def documented_commands() -> list[DocCommand]:
    from sybil import Sybil
    from sybil.parsers.markdown import CodeBlockParser

    sybil = Sybil([CodeBlockParser(language) for language in (*SHELL, "yaml", "yml")])
    found = []
    for doc in DOCS:
        document = sybil.parse(REPO / doc)
        for example in document:
            source = example.parsed
            if example.region.lexemes["arguments"] in ("yaml", "yml"):
                named = re.findall(
                    r"conf/[\w/<>.-]+\.yaml", document.text[: example.region.start] + source.split("\n")[0]
                )
                found.append(DocCommand(doc, example.line, named[-1] if named else source.split("\n")[0], source))
                continue
            lines = source.splitlines()
            if example.region.lexemes["arguments"] == "console":  # commands after a prompt; the rest is output
                kept, continued = [], False
                for line in lines:
                    keep = continued or line.startswith("$ ")
                    kept.append(line.removeprefix("$ ") if keep else "")
                    continued = keep and line.rstrip().endswith("\\")
                lines = kept
            i = 0
            while i < len(lines):
                start, text = i, lines[i]
                while text.rstrip().endswith("\\") and i + 1 < len(lines):
                    i += 1
                    text = text.rstrip()[:-1] + " " + lines[i].strip()
                i += 1
                found.extend(DocCommand(doc, example.line + start, part) for part in _split(text))
    return found


COMMANDS_FOUND = documented_commands()


def substitute(text: str, work: Path | str) -> str:
    for old, new in SUBSTITUTIONS:
        text = text.replace(old, new)
    return re.sub(r"(?<![\w.-])/data/", f"{work}/data/", text)


def belka_args(tokens: list[str]) -> list[str] | None:
    """The arguments after the entry point (``belka`` or ``… -m belka_lab``), or None for another tool."""
    if tokens and tokens[0] == "belka":
        return tokens[1:]
    for i, token in enumerate(tokens[:-1]):
        if token == "-m" and tokens[i + 1] == "belka_lab":
            return tokens[i + 2 :]
    return None


def tokens_of(text: str) -> tuple[dict[str, str], list[str]]:
    """``VAR=value … program args`` → (environment, the rest)."""
    tokens = shlex.split(text)
    env = {}
    while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]):
        key, value = tokens.pop(0).split("=", 1)
        env[key] = value
    return env, tokens


def command_word(args: list[str]) -> tuple[str, list[str]]:
    from belka_lab.cli import COMMANDS

    return (args[0], args[1:]) if args and args[0] in COMMANDS else ("train", args)


def is_hydra(word: str) -> bool:
    from belka_lab.core.config import CONFIG_DIR

    return (Path(CONFIG_DIR) / f"{word}.yaml").exists()


def sweep(overrides: list[str]) -> list[list[str]]:
    """A multirun's jobs: every combination of the sweeps' values, as Hydra's basic sweeper makes them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    choices = [
        [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override() else [o.input_line]
        for o in OverridesParser.create().parse_overrides(overrides)
    ]
    return [list(job) for job in itertools.product(*choices)]


def compose_job(config: str, overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from belka_lab.core.config import CONFIG_DIR, register_resolvers

    register_resolvers()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose(config, overrides=overrides, return_hydra_config=True)


def compose_command(args: list[str]) -> list:
    """Compose a Hydra command's arguments (``-m``: each job of the sweep); [] for an argparse command."""
    word, rest = command_word(args)
    if not is_hydra(word):
        return []
    flags = [a for a in rest if a.startswith("-")]
    assert set(flags) <= {"-m", "--multirun"}, f"options Hydra commands do not take here: {flags}"
    overrides = [a for a in rest if not a.startswith("-")]
    jobs = sweep(overrides) if flags else [overrides]
    return [compose_job(word, job) for job in jobs]


# --- the runs: each chain's commands in one child process, one after another


def run_commands(plan_file: str) -> None:
    """The child process: each step as ``belka <argv>`` through the console script's function, in
    its working directory, its stdout and stderr in its own log; the exit status of each in
    <plan>.results.json (written after every step)."""
    from belka_lab import cli

    plan = json.loads(Path(plan_file).read_text())
    results = {}
    for step in plan:
        os.chdir(step["cwd"])
        os.environ.update(step["env"])
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        start, cpu = time.perf_counter(), sum(os.times()[:4])
        with open(step["log"], "w") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                sys.argv = ["belka", *step["argv"]]
                cli.main()
                status = 0
            except SystemExit as e:
                status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                traceback.print_exc()
                status = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
        results[step["key"]] = {
            "status": status,
            "seconds": round(time.perf_counter() - start, 2),
            "cpu_seconds": round(sum(os.times()[:4]) - cpu, 2),
        }
        Path(plan_file + ".results.json").write_text(json.dumps(results, indent=1))


@dataclass
class Step:
    key: str  # the command as run (after substitutions and the appended overrides)
    argv: list[str]
    env: dict[str, str]
    log: str
    commands: list[DocCommand] = field(default_factory=list)


def plan_steps(command: DocCommand, decision: Decision, work: Path) -> list[Step]:
    """The command as it runs here (and again with each of ``decision.seeds``)."""
    if command.yaml is not None:  # conf/data/my_deli.yaml, saved in a search path: a cube prepared with it
        assert command.text == "conf/data/my_deli.yaml", f"{command.where}: no run is written for {command.text}"
        args = ["prepare", "data=my_deli", f"data.root={work}/data/deli", f"hydra.searchpath=[file://{work}/conf]"]
        env = {}
    else:
        env, tokens = tokens_of(substitute(command.text, work))
        args = belka_args(tokens)
        assert args is not None, f"{command.where}: only belka commands run here: {command.text}"
    word, rest = command_word(args)
    runs = [([], decision.name), *((["seed=" + str(s)], f"{decision.name}-seed{s}") for s in decision.seeds)]
    steps = [Step(before, shlex.split(before), {}, "") for before in decision.before]
    for seed, name in runs:
        argv = [*args, *decision.append, *seed]
        if is_hydra(word) and not any(a.startswith("hydra.run.dir=") for a in rest):
            assert name, f"{command.where}: a Hydra command that runs here names its output directory (name=)"
            sweep_dir = "-m" in rest or "--multirun" in rest
            argv.append(
                f"hydra.{'sweep' if sweep_dir else 'run'}.dir=logs/{word}/{'multi' if sweep_dir else ''}runs/{name}"
            )
        steps.append(Step(shlex.join([*(f"{k}={v}" for k, v in env.items()), *argv]), argv, env, ""))
    return steps


def make_fixtures(work: Path) -> None:
    """The files the substituted commands read: the tiny synthetic library (where data.synth's tiny
    settings put it), molecule files to score, a selection of one's own, a KinDEL one-target file,
    a DELi cube and the DELi conf file as the docs show it."""
    import pandas as pd

    from belka_lab.synth.config import SynthConfig
    from belka_lab.synth.generate import generate
    from belka_lab.synth.selection import SelectionConfig, simulate
    from kindel_files import kindel_files, one_target

    library = generate(work / LIBRARY, SynthConfig(n_train=3000, n_test=600), progress=False)
    test = pd.read_parquet(library / "test.parquet").head(300)
    test.to_parquet(work / "library.parquet")
    molecules = test.drop_duplicates("molecule_smiles").head(60)
    pd.DataFrame(
        {
            "name": [f"m{i}" for i in range(len(molecules))],
            "smiles": molecules["molecule_smiles"],
            "vendor": "enamine",
            "price": 12.5,
        }
    ).to_csv(work / "library.csv", index=False)
    (work / "library.smi").write_text("".join(f"{s}\tm{i}\n" for i, s in enumerate(molecules["molecule_smiles"])))

    selection = simulate(work / "data" / "my_selection", SelectionConfig(n_compounds=3000, n_heldout=200), False)
    t = pd.read_parquet(selection / "selection.parquet")
    kindel = one_target(t)
    (work / "data" / "kindel").mkdir()
    kindel.to_parquet(work / "data" / "kindel" / "mapk14.parquet")
    (work / "data" / "screen").mkdir()
    kindel.drop(columns=["seq_matrix_1", "seq_matrix_2", "seq_matrix_3", "seq_load"]).to_csv(
        work / "data" / "screen" / "screen.csv", index=False
    )
    kindel_files(selection, work / "data" / "kindel")  # ddr1_1M.parquet, splits/, heldout/ as KinDEL ships them
    cube = pd.DataFrame({"DEL_ID": [f"DEL003-{i}" for i in range(len(t))], "SMILES": t["smiles"]})
    for i, c in enumerate(("smiles_a", "smiles_b", "smiles_c")):
        cube[f"BB{i + 1}_SMILES"] = t[c]
    for r in (1, 2, 3):
        cube[f"corrected_PTMODD3index{r + 3}"] = t[f"seq_HSA_{r}"]
    cube["corrected_D3index7"] = t["seq_matrix_1"]
    (work / "data" / "deli").mkdir()
    cube.to_csv(work / "data" / "deli" / "DEL003_cube.csv", index=False)
    deli = next(c for c in COMMANDS_FOUND if c.text == "conf/data/my_deli.yaml")
    (work / "conf" / "data").mkdir(parents=True)
    (work / "conf" / "data" / "my_deli.yaml").write_text(deli.yaml)


def plan_chains(work: Path) -> dict[str, list[Step]]:
    chains: dict[str, dict[str, Step]] = {}
    for command in COMMANDS_FOUND:
        decision = DECISIONS.get(command.text)
        if decision is None or decision.kind != "run":
            continue
        steps = chains.setdefault(decision.chain, {})
        for step in plan_steps(command, decision, work):
            steps.setdefault(step.key, step).commands.append(command)
    order = {key: i for i, key in enumerate(DECISIONS)}
    planned = {}
    for chain, steps in chains.items():
        planned[chain] = sorted(steps.values(), key=lambda s: order[s.commands[0].text])
        for i, step in enumerate(planned[chain]):
            step.log = str(work / f"{chain}-{i:02d}.log")
    return planned


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    """Every ``run`` command executed: (the working directory, {command as run: (its step, exit status)})."""
    work = tmp_path_factory.mktemp("documented")
    make_fixtures(work)
    plans = plan_chains(work)
    children = {}
    for name, steps in plans.items():
        plan = work / f"{name}.plan.json"
        plan.write_text(
            json.dumps([{"key": s.key, "argv": s.argv, "env": s.env, "log": s.log, "cwd": str(work)} for s in steps])
        )
        env = {
            **os.environ,
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1",  # two chains on two cores: one thread each (torch, LightGBM)
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        children[name] = (plan, subprocess.Popen([sys.executable, __file__, str(plan)], env=env, cwd=work))
    outcome = {}
    for name, (plan, child) in children.items():
        try:
            child.wait(timeout=900)
        except subprocess.TimeoutExpired:
            child.kill()  # the steps it did not finish fail below, with their logs
            child.wait()
        results_file = Path(f"{plan}.results.json")
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
        for step in plans[name]:
            outcome[step.key] = (step, results.get(step.key, {}).get("status"))
    return work, outcome


def _ran(command: DocCommand, decision: Decision, request) -> None:
    """The command's runs in its chain exited 0 and wrote what they should."""
    work, outcome = request.getfixturevalue("chains")
    for planned in plan_steps(command, decision, work):
        step, status = outcome[planned.key]
        if status != 0:
            log = Path(step.log).read_text()[-4000:] if Path(step.log).exists() else "(no log: it did not start)"
            pytest.fail(
                f"{command.where}: the documented command `{command.text}` failed (exit {status}) as\n"
                f"  belka {step.key}\n--- its output (end) ---\n{log}"
            )
    for path in decision.makes:
        assert (work / path).exists(), f"{command.where}: `{command.text}` did not write {path}"


def _decision(command: DocCommand) -> Decision:
    decision = DECISIONS.get(command.text)
    if decision is None:
        pytest.fail(
            f"{command.where}: `{command.text}` has no decision in DECISIONS (tests/integration/"
            "test_documented_commands.py): run it on tiny data, or compose it and say why it cannot run here"
        )
    return decision


def _id(command: DocCommand) -> str:
    decision = DECISIONS.get(command.text)
    kind = decision.kind if decision else "unclassified"
    if command.yaml is not None:
        what = "yaml"
    else:
        _, tokens = tokens_of(command.text)
        args = belka_args(tokens)
        script = tokens[1] if tokens[0].startswith("python") and tokens[1].endswith(".py") else None
        what = command_word(args)[0] if args is not None else Path(script or tokens[tokens[1:2] == ["-m"] and 2]).name
    return f"{kind}-{command.where}-{what}"


# --- the tests


def test_every_documented_command_has_a_decision():
    texts = {c.text for c in COMMANDS_FOUND}
    missing = [f"{c.where}: {c.text}" for c in COMMANDS_FOUND if c.text not in DECISIONS]
    assert not missing, "documented commands without a decision in DECISIONS:\n" + "\n".join(missing)
    stale = [text for text in DECISIONS if text not in texts]
    assert not stale, "DECISIONS holds commands the docs no longer show:\n" + "\n".join(stale)
    assert all(d.reason for d in DECISIONS.values() if d.kind != "run"), "a command that does not run says why"


@pytest.mark.parametrize("command", COMMANDS_FOUND, ids=_id)
def test_documented_command(command: DocCommand, request):
    decision = _decision(command)
    if command.yaml is not None:
        return _yaml_block(command, decision, request)
    env, tokens = tokens_of(substitute(command.text, "/work"))
    args = belka_args(tokens)
    if args is not None:
        try:
            compose_command(args)
        except Exception as e:
            pytest.fail(f"{command.where}: the documented command `{command.text}` does not compose: {e}")
        if decision.kind == "run":
            _ran(command, decision, request)
        else:
            assert decision.kind == "composed", f"{command.where}: a belka command is run or composed"
        return
    assert decision.kind in ("checked", "listed"), f"{command.where}: `{command.text}` is not a belka command"
    if decision.kind == "listed":
        pytest.skip(f"{command.where}: {decision.reason}")
    _check_tool(command, tokens)


def _yaml_block(command: DocCommand, decision: Decision, request) -> None:
    if decision.kind == "run":
        return _ran(command, decision, request)
    assert command.text == "conf/model/<name>.yaml", f"{command.where}: a yaml block nothing here knows to fill"
    import torch
    from hydra.utils import instantiate

    filled = command.yaml.replace("belka_lab.models.<name>.<Class>", "belka_lab.models.cnn.CNN1D")
    filled = "\n".join(line for line in filled.splitlines() if line.split("#")[0].strip() != "...")
    search = request.getfixturevalue("tmp_path")
    (search / "model").mkdir()
    (search / "model" / "documented.yaml").write_text(filled)
    cfg = compose_job("train", ["model=documented", f"hydra.searchpath=[file://{search}]"])
    assert cfg.model.eval_batch_size == 1024 and cfg.model.optimizer.lr == 5.0e-4 and "loss" not in cfg.model
    backbone = instantiate(cfg.model.backbone, vocab_size=37, n_outputs=3)
    tokens = torch.randint(1, 37, (2, 142))
    assert backbone(tokens, torch.ones_like(tokens, dtype=torch.bool)).shape == (2, 3)


def _check_tool(command: DocCommand, tokens: list[str]) -> None:
    """What a test can check of another tool's documented command."""
    program = Path(tokens[0]).name
    if program == "make":
        r = subprocess.run(["make", "-n", "-C", str(REPO), *tokens[1:]], capture_output=True, text=True)
        assert r.returncode == 0, f"{command.where}: `{command.text}`: the Makefile has no such target: {r.stderr}"
    elif program == "pip":
        _check_extras(command, tokens)
    elif tokens[0].startswith("scripts/") and tokens[0].endswith(".sh"):
        assert (REPO / tokens[0]).is_file(), f"{command.where}: `{command.text}`: no such script"
        r = subprocess.run(["bash", "-n", str(REPO / tokens[0])], capture_output=True, text=True)
        assert r.returncode == 0, f"{command.where}: `{command.text}`: bash -n fails: {r.stderr}"
    elif tokens[:2] == ["python", "-m"] and tokens[2] == "benchmarks":
        _check_benchmark(command, tokens[3:])
    elif program == "python" and tokens[1].startswith("scripts/"):
        import py_compile

        py_compile.compile(str(REPO / tokens[1]), doraise=True)
        _composes(command, "train", [a for a in tokens[2:] if "=" in a and not a.startswith("-")])
    else:
        pytest.fail(f"{command.where}: `{command.text}`: no check is written for {program}; list it instead")


def _composes(command: DocCommand, config: str, overrides: list[str]) -> None:
    try:
        compose_job(config, overrides)
    except Exception as e:
        pytest.fail(f"{command.where}: the overrides of `{command.text}` do not compose with conf/{config}.yaml: {e}")


def _check_extras(command: DocCommand, tokens: list[str]) -> None:
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = [m.group(1) for t in tokens if (m := re.fullmatch(r"\.\[([\w,-]+)\]", t))]
    assert named, f"{command.where}: `{command.text}` installs no extra of this project"
    for extra in ",".join(named).split(","):
        assert extra in extras, f"{command.where}: `{command.text}`: pyproject.toml has no extra {extra!r}"


class _Parsed(Exception):
    pass


def _check_benchmark(command: DocCommand, argv: list[str]) -> None:
    """``python -m benchmarks …``: its parser accepts the arguments (stopped right after parsing),
    the suite's module exists, and Hydra overrides compose against the config the suite runs."""
    import importlib

    import benchmarks.__main__ as bench

    parse = argparse.ArgumentParser.parse_intermixed_args

    def parse_only(self, args=None, namespace=None):
        raise _Parsed(parse(self, args, namespace))

    argparse.ArgumentParser.parse_intermixed_args = parse_only
    try:
        bench.main(argv)
    except _Parsed as parsed:
        args = parsed.args[0]
    except SystemExit as e:
        pytest.fail(f"{command.where}: `{command.text}`: python -m benchmarks refuses its arguments (exit {e.code})")
    finally:
        argparse.ArgumentParser.parse_intermixed_args = parse
    assert hasattr(importlib.import_module(f"benchmarks.{args.suite}"), "run")
    if args.overrides:
        _composes(command, "pretrain" if args.suite == "pretrain" else "train", args.overrides)


def test_the_make_targets_the_docs_name_exist():
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))
    named = {t for doc in DOCS for t in re.findall(r"`make ([\w-]+)", (REPO / doc).read_text())}
    assert named and named <= targets, f"the docs name make targets the Makefile lacks: {sorted(named - targets)}"


def test_the_runs_wrote_what_the_docs_say(chains):
    """Beyond exit 0: a KinDEL one-target file trains a model named by ``names``, the DELi conf file
    prepares the cube's sample with its control, a CSV is scored by its names with the passthrough
    columns, and a blend made by predict carries the runs' spread."""
    import pandas as pd

    work, _ = chains
    assert json.loads((work / "logs/train/runs/kindel/results.json").read_text())["targets"] == ["MAPK14"]
    cube = json.loads((work / "data/deli/prepared/manifest.json").read_text())["count_table"]["targets"]
    assert cube == {"PTMOD": {"columns": [0, 1, 2], "control": "beads"}}
    scored = pd.read_parquet(work / "logs/predict/runs/library-csv/predictions.parquet")
    assert scored["id"].tolist()[:2] == ["m0", "m1"] and {"vendor", "price", "sEH"} <= set(scored.columns)
    blend = pd.read_parquet(work / "logs/predict/runs/blend-made-here/predictions.parquet")
    assert {"BRD4", "BRD4_std"} <= set(blend.columns) and (blend["BRD4_std"] > 0).any()


if __name__ == "__main__":
    run_commands(sys.argv[1])
