"""Each backbone's training and evaluation step on an XLA device: after warm-up, no new graph.

Run through scripts/check_xla.sh (its own venv with torch_xla; PJRT_DEVICE=CPU works without
a TPU). For every conf/model/*.yaml: BelkaModule's training step (masked loss, backward,
optimizer step) on batches of the fixed training shape whose content and padding change
every step, then evaluation steps; torch_xla's CompileTime count must not grow after the
warm-up steps. Prints one row per model and exits non-zero if any model recompiled.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch_xla
import torch_xla.debug.metrics as met
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from belka_lab.core.config import CONFIG_DIR


def compiles() -> int:
    data = met.metric_data("CompileTime")
    return int(data[0]) if data else 0


def batch(rng: torch.Generator, size: int, width: int, vocab: int, pad: int, device) -> dict:
    """Random molecules of random lengths, padded to the fixed width (what the loaders give)."""
    lengths = torch.randint(width // 3, width + 1, (size,), generator=rng)
    tokens = torch.randint(0, vocab, (size, width), generator=rng)
    tokens = torch.where(tokens == pad, (pad + 1) % vocab, tokens)
    mask = torch.arange(width)[None, :] < lengths[:, None]
    tokens = torch.where(mask, tokens, pad)
    labels = torch.randint(-1, 2, (size, 3), generator=rng)
    out = {
        "tokens": tokens,
        "mask": mask,
        "labels": labels.clamp_min(0).float(),
        "label_mask": labels >= 0,
        "index": torch.arange(size),
    }
    return {k: v.to(device) for k, v in out.items()}


SMILES = [
    "C#CCOc1ccc(CNc2nc(NCC3CCCN3C(=O)C=C)nc(N[C@@H](CC#C)CC(=O)N[Dy])n2)cc1",
    "O=C(N[Dy])c1ccc(Nc2nc(NCc3ccco3)nc(Nc3ccc(F)cc3)n2)cc1",
    "CC(C)(C)OC(=O)N1CCC(CNc2nc(NCC(=O)N[Dy])nc(Nc3cccc(Br)c3)n2)CC1",
    "Cc1cc(Nc2nc(NCCO)nc(N[C@H](Cc3ccccc3)C(=O)N[Dy])n2)no1",
]


def check(name: str, steps: int, warmup: int, size: int, device, workdir: Path) -> dict:
    overrides = [f"model={name}"]
    if name == "chemberta":  # its vocabulary comes from a tokenizer: a small BPE one trained here
        from belka_lab.tokens.cache import train_bpe

        if not (workdir / "bpe").exists():
            train_bpe(SMILES * 50, workdir / "bpe", vocab_size=64)
        overrides.append(f"model.backbone.tokenizer={workdir / 'bpe'}")
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    module = instantiate(cfg.model).to(device)
    module.log = lambda *a, **k: None  # the trainer's logging is not what is checked here
    backbone = module.backbone
    vocab, pad = backbone.vocab_size, getattr(backbone, "pad_token_id", 0)
    width = 144 if name == "chemberta" else 142  # the BPE cache's width bound vs the character codes
    optimizer = module.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    rng = torch.Generator().manual_seed(0)
    module.train()
    t = time.perf_counter()
    for step in range(steps):
        if step == warmup:
            after_warmup = compiles()
        loss = module.training_step(batch(rng, size, width, vocab, pad, device), step)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch_xla.sync()
    train_new = compiles() - after_warmup
    module.eval()
    with torch.no_grad():
        for step in range(warmup + 2):
            if step == warmup:
                before_eval = compiles()
            torch.sigmoid(
                module(
                    **{k: v for k, v in batch(rng, size, width, vocab, pad, device).items() if k in ("tokens", "mask")}
                )
            )
            torch_xla.sync()
    eval_new = compiles() - before_eval
    return {
        "model": name,
        "train_steps": steps,
        "new_graphs_after_warmup": train_new,
        "eval_new_graphs": eval_new,
        "seconds": time.perf_counter() - t,
    }


def _reads_tokens(config: Path) -> bool:
    """Models that read token ids; fp_mlp, synthon and graph read the prepared data's caches (and a
    graph batch has as many rows as atoms, a shape XLA compiles again for every batch): not checked here."""
    return config.stem not in ("fp_mlp", "synthon", "graph")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("models", nargs="*", help="conf/model names (default: all)")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args()
    names = args.models or sorted(
        f.stem for f in Path(CONFIG_DIR, "model").glob("*.yaml") if not f.stem.startswith("_") and _reads_tokens(f)
    )
    device = torch_xla.device()
    print(f"torch {torch.__version__}, torch_xla {torch_xla.__version__}, device {device}")
    print(f"{'model':20s} {'steps':>6s} {'new graphs (train)':>19s} {'new graphs (eval)':>18s} {'seconds':>8s}")
    failed = []
    workdir = Path(tempfile.mkdtemp(prefix="xla-steps-"))
    for name in names:
        r = check(name, args.steps, args.warmup, args.batch_size, device, workdir)
        print(
            f"{r['model']:20s} {r['train_steps']:6d} {r['new_graphs_after_warmup']:19d} {r['eval_new_graphs']:18d} "
            f"{r['seconds']:8.1f}",
            flush=True,
        )
        if r["new_graphs_after_warmup"] or r["eval_new_graphs"]:
            failed.append(name)
    if failed:
        print(f"recompiled after warm-up: {', '.join(failed)}")
        return 1
    print("every backbone kept one graph per step after warm-up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
