"""Pretraining objectives beyond masked tokens (ecfp, descriptors), their targets, and the chain
MLM → ECFP → fine-tuning (model.init_from, pretrain_chain)."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from belka_lab.core.errors import InputError
from belka_lab.features.descriptors import DescriptorConfig, cached_descriptors
from belka_lab.features.fingerprints import ECFPConfig
from belka_lab.loading.pretrain import unpack_bits
from belka_lab.pretraining.pretrain import pretrain
from belka_lab.pretraining.properties import bitwise_auroc_ap
from belka_lab.training.train import train
from helpers import QUIET_TRAINER, compose_run

SMALL = ["model.backbone.d_model=32", "model.backbone.n_layers=1", "model.backbone.n_heads=4", "data.batch_size=64"]
TINY = ["model=transformer_small", *SMALL, "pretrain.val_molecules=400", *QUIET_TRAINER]


def test_bitwise_auroc_and_ap_are_sklearns_per_bit():
    rng = np.random.default_rng(0)
    bits = (rng.random((500, 40)) < 0.1).astype(np.float32)
    bits[:, 3] = 0  # never set: not scored
    probs = np.clip(bits * 0.3 + rng.random((500, 40)), 0, 1).astype(np.float32)
    auroc, ap, scored = bitwise_auroc_ap(torch.from_numpy(probs), torch.from_numpy(bits))
    cols = [j for j in range(40) if 0 < bits[:, j].sum() < 500]
    assert scored == len(cols) == 39
    assert auroc == pytest.approx(np.mean([roc_auc_score(bits[:, j], probs[:, j]) for j in cols]), abs=1e-9)
    assert ap == pytest.approx(np.mean([average_precision_score(bits[:, j], probs[:, j]) for j in cols]), abs=1e-9)


def test_bits_unpack_on_the_device_as_numpy_packs_them():
    bits = (np.random.default_rng(1).random((7, 2048)) < 0.05).astype(np.uint8)
    packed = torch.from_numpy(np.packbits(bits, axis=1))
    assert torch.equal(unpack_bits(packed, 2048), torch.from_numpy(bits).float())


def test_descriptor_cache_is_computed_once_and_names_what_is_wrong(tiny_prepared):
    config = DescriptorConfig(names=["MolWt", "TPSA", "NumHDonors"], workers=1)
    values, info = cached_descriptors(tiny_prepared, config)
    from rdkit import Chem
    from rdkit.Chem import Descriptors

    from belka_lab.tokens.characters import decode

    first = decode(np.load(tiny_prepared / "train" / "tokens.npy")[:3])
    for row, smiles in zip(values["train"][:3], first):
        mol = Chem.MolFromSmiles(smiles)
        assert row == pytest.approx([Descriptors.MolWt(mol), Descriptors.TPSA(mol), Descriptors.NumHDonors(mol)])
    assert info["mean"][0] == pytest.approx(float(np.mean(values["train"][:, 0])), rel=1e-4)
    stamp = (tiny_prepared / "descriptors" / config.key / "train.npy").stat().st_mtime_ns
    cached_descriptors(tiny_prepared, config)
    assert (tiny_prepared / "descriptors" / config.key / "train.npy").stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="RDKit has no descriptor MolWeight"):
        DescriptorConfig(names=["MolWeight"]).resolved()


@pytest.mark.parametrize("objective", ["ecfp", "descriptors"])
def test_property_pretraining_learns_its_targets_and_feeds_fine_tuning(objective, tmp_path, tiny_library):
    cfg = compose_run(
        "pretrain",
        tmp_path,
        tiny_library,
        "pre",
        *TINY,
        f"objective={objective}",
        "trainer.max_epochs=3",
        "model.optimizer.lr=2e-3",
        *(
            ["objective.names=[MolWt,TPSA,NumHDonors,RingCount,NumRotatableBonds]"]
            if objective == "descriptors"
            else []
        ),
    )
    result = pretrain(cfg)
    history = result["history"]
    losses = [h[f"val_{objective}_loss"] for h in history]
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    if objective == "ecfp":
        aurocs = [h["val_ecfp_auroc"] for h in history]  # slow to rise on 3,000 molecules (0.513 → 0.538)
        assert aurocs[-1] > 0.5 and history[-1]["bits_scored"] > 100, aurocs  # the learning: the loss, above
        assert (tmp_path / "prepared" / "fingerprints" / ECFPConfig().key / "train.npy").exists()
    else:
        assert history[-1]["val_descriptors_r2"] > 0.2 and set(history[-1]["r2"]) == {
            "MolWt",
            "TPSA",
            "NumHDonors",
            "RingCount",
            "NumRotatableBonds",
        }
    assert (tmp_path / "pre" / "pretrain.png").read_bytes()[:4] == b"\x89PNG"
    saved = torch.load(tmp_path / "pre" / "encoder.pt", weights_only=True)["state_dict"]
    tuned = train(
        compose_run(
            "train",
            tmp_path,
            tiny_library,
            "ft",
            *TINY[:-3],
            *QUIET_TRAINER,
            "debug=fdr",
            f"model.init_from={tmp_path}/pre/encoder.pt",
            "data.batch_size=64",
        )
    )
    assert tuned["init_from"]["loaded"] == len(saved)


def test_unparsable_molecules_follow_ecfp_invalid(tmp_path, tiny_library):
    import shutil

    from belka_lab.tokens.characters import CHAR_VOCAB

    cfg = compose_run("pretrain", tmp_path, tiny_library, "pre", *TINY, "objective=ecfp", "debug=fdr")
    pretrain(cfg)  # prepares the data; then break one molecule (a ring that never closes)
    prepared = tmp_path / "prepared"
    tokens = np.load(prepared / "train" / "tokens.npy")
    tokens[5, 0] = CHAR_VOCAB["1"]  # a ring-bond digit at the start: RDKit cannot parse it
    np.save(prepared / "train" / "tokens.npy", tokens)
    shutil.rmtree(prepared / "fingerprints")
    with pytest.raises(InputError, match=r"RDKit cannot parse 1 molecules \(rows 5\).*objective.invalid=zeros"):
        pretrain(cfg)
    shutil.rmtree(prepared / "fingerprints", ignore_errors=True)
    pretrain(
        compose_run(
            "pretrain", tmp_path, tiny_library, "pre2", *TINY, "objective=ecfp", "debug=fdr", "objective.invalid=zeros"
        )
    )
    info = json.loads((prepared / "fingerprints" / ECFPConfig().key / "info.json").read_text())
    assert info["unparsed"]["train"]["molecules"] == [5]


def test_first_place_chain_runs_mlm_then_ecfp_then_fine_tunes_and_reuses_done_stages(tmp_path, tiny_library, capsys):
    args = [
        "experiment=first_place",
        *SMALL,
        *QUIET_TRAINER,
        f"data.tokenizer.path={tmp_path}/atom",
        "+trainer.limit_train_batches=3",
        "trainer.max_epochs=1",
        "callbacks.model_checkpoint.monitor=val/map",
    ]
    result = train(compose_run("train", tmp_path, tiny_library, "run", *args))
    run = tmp_path / "run"
    mlm, ecfp = run / "pretrain" / "1-mlm", run / "pretrain" / "2-ecfp"
    assert json.loads((mlm / "results.json").read_text())["objective"] == "mlm"
    second = json.loads((ecfp / "results.json").read_text())
    assert second["objective"] == "ecfp" and second["init_from"] == str(mlm / "encoder.pt")
    before, after = (torch.load(d / "encoder.pt", weights_only=True)["state_dict"] for d in (mlm, ecfp))
    assert torch.equal(before["embed.weight"], after["embed.weight"])  # frozen in the ECFP stage
    assert not torch.equal(before["norm.weight"], after["norm.weight"])  # the rest trained
    assert result["init_from"]["path"] == str(ecfp / "encoder.pt")
    assert len(json.loads((mlm / "results.json").read_text())["history"]) == 2  # the stage's own max_epochs
    out = capsys.readouterr().out
    assert "pretrain stage 1 of 2: mlm" in out and "fine-tuning from" in out
    stamp = (mlm / "encoder.pt").stat().st_mtime_ns
    train(compose_run("train", tmp_path, tiny_library, "run", *args, "predict=false"))
    assert (mlm / "encoder.pt").stat().st_mtime_ns == stamp and "exists, reused" in capsys.readouterr().out
