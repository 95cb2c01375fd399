"""Transformer and Mamba specifics, masked-character pretraining and init_from."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from belka_lab import run
from belka_lab.core.errors import InputError
from belka_lab.models.chemberta import ChemBERTa
from belka_lab.models.init_from import load_encoder, save_encoder
from belka_lab.models.mamba import Mamba1D, reverse_within_length, selective_scan_parallel, selective_scan_sequential
from belka_lab.models.transformer import TransformerEncoder1D
from belka_lab.pretraining.mlm import mask_tokens
from belka_lab.pretraining.pretrain import pretrain
from belka_lab.tokens.cache import build_cache, cache_info
from belka_lab.tokens.characters import decode, encode
from belka_lab.tokens.huggingface import load_tokenizer, train_bpe
from belka_lab.tokens.spec import TokenizerConfig
from belka_lab.training.train import train
from helpers import QUIET_TRAINER, compose_run

SMILES = ["CCO", "C(=O)N[Dy]", "c1ccccc1CCN", "C#CC[C@@H](CC(=O)N[Dy])Nc1nc(Nc2ccc(C=C)cc2)nc(Nc2ccc(C=C)cc2)n1"]


def _tokens():
    return torch.from_numpy(encode(SMILES)).long()


def _scan_inputs(seed, length=37):
    g = torch.Generator().manual_seed(seed)
    b, d, n = 2, 6, 4
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    u, B, C, D = r(b, d, length), r(b, n, length), r(b, n, length), r(d)
    delta = torch.rand(b, d, length, generator=g, dtype=torch.float64) * 0.5
    A = -torch.rand(d, n, generator=g, dtype=torch.float64) * 2
    return [t.requires_grad_() for t in (u, delta, A, B, C, D)]


@pytest.mark.parametrize("seed, chunk", [(0, None), (1, None), (0, 2), (1, 8), (0, 16), (1, 64)])
def test_parallel_scan_equals_the_sequential_recurrence_with_gradients(seed, chunk):
    # chunk 8 and 16 cut 37 positions into chunks with a padded last one (state carried across,
    # each chunk recomputed in the backward pass); None and 64 scan the whole sequence at once
    inputs = _scan_inputs(seed)
    y_par = selective_scan_parallel(*inputs, chunk=chunk)
    grads_par = torch.autograd.grad(y_par.pow(2).sum(), inputs)
    y_seq = selective_scan_sequential(*inputs)
    grads_seq = torch.autograd.grad(y_seq.pow(2).sum(), inputs)
    torch.testing.assert_close(y_par, y_seq, rtol=1e-10, atol=1e-10)
    for a, b in zip(grads_par, grads_seq):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_the_scan_chunk_must_be_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        selective_scan_parallel(*_scan_inputs(0), chunk=12)


def _bytes_kept_for_backward(chunk, b=8, d=64, n=16, length=142) -> int:
    """Bytes of the distinct storages autograd keeps from the scan's forward pass for its backward."""
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    u, B, C, D = r(b, d, length), r(b, n, length), r(b, n, length), r(d)
    delta, A = torch.rand(b, d, length, generator=g) * 0.1, -torch.rand(d, n, generator=g)
    inputs = [t.requires_grad_() for t in (u, delta, A, B, C, D)]
    kept = {}

    def pack(t):
        kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        selective_scan_parallel(*inputs, chunk=chunk)
    return sum(kept.values())


def test_a_chunked_scan_keeps_a_fraction_of_the_whole_scans_activations():
    """Checkpointed chunks keep their inputs and the carried state, not the [B, L, D, N] scan tensors
    (measured: 0.96 MiB in chunks of 16 vs 25.8 MiB in one scan over 142 positions, padded to 256)."""
    chunked, whole = _bytes_kept_for_backward(16), _bytes_kept_for_backward(None)
    assert whole > 8 * 142 * 64 * 16 * 4 and chunked * 10 < whole, (chunked, whole)


def test_reverse_within_length_reverses_characters_and_keeps_padding_behind():
    x = torch.arange(12.0).reshape(2, 6, 1)
    out = reverse_within_length(x, torch.tensor([4, 6]))
    assert out[0, :, 0].tolist() == [3, 2, 1, 0, 4, 5]
    assert out[1, :, 0].tolist() == [11, 10, 9, 8, 7, 6]
    assert torch.equal(reverse_within_length(out, torch.tensor([4, 6])), x)


def test_bidirectional_mamba_reads_the_whole_molecule():
    """The first character's output depends on later characters only through the backward mixer."""
    t = _tokens()[:1].clone()
    changed = t.clone()
    changed[0, 5] = 12 if t[0, 5] != 12 else 8
    for bidirectional, expect_change in ((False, False), (True, True)):
        torch.manual_seed(0)
        net = Mamba1D(d_model=16, n_layers=1, bidirectional=bidirectional).eval()
        with torch.no_grad():
            a = net.features(t, t != 0)[0][0, 0]
            b = net.features(changed, changed != 0)[0][0, 0]
        assert (not torch.allclose(a, b)) == expect_change


@pytest.mark.parametrize("positions", ["rotary", "learned"])
@pytest.mark.parametrize("pool", ["mean", "cls"])
def test_transformer_variants_ignore_padding(positions, pool):
    torch.manual_seed(0)
    net = TransformerEncoder1D(d_model=32, n_layers=2, n_heads=4, positions=positions, pool=pool).eval()
    t = _tokens()
    with torch.no_grad():
        full, short = net(t, t != 0), net(t[:, :80], t[:, :80] != 0)
    torch.testing.assert_close(full, short, rtol=1e-5, atol=1e-5)


def test_transformer_rejects_sequences_longer_than_its_positions():
    net = TransformerEncoder1D(d_model=16, n_layers=1, n_heads=2, positions="learned", max_len=10)
    t = torch.ones(2, 11, dtype=torch.long)
    with pytest.raises(ValueError, match="max_len=10"):
        net(t, t != 0)


def test_mask_tokens_follows_the_15_80_10_10_recipe():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 37, (400, 142), generator=g)
    tokens[:, 100:] = 0
    mask = tokens != 0
    out, chosen = mask_tokens(tokens, mask, mask_token_id=37, symbols=(1, 36), prob=0.15, generator=g)
    assert not chosen[~mask].any() and torch.equal(out[~mask], tokens[~mask])
    assert torch.equal(out[~chosen], tokens[~chosen])
    share = chosen.sum() / mask.sum()
    assert 0.14 < share < 0.16
    n = chosen.sum()
    masked = (out[chosen] == 37).sum() / n
    kept = (out[chosen] == tokens[chosen]).sum() / n  # 10% kept + 1/36 of the random 10%
    assert 0.78 < masked < 0.82 and 0.09 < kept < 0.12
    assert out.max() <= 37 and out[mask].min() >= 1


def test_encoder_file_round_trip_reports_new_head(tmp_path):
    torch.manual_seed(0)
    a = TransformerEncoder1D(d_model=16, n_layers=1, n_heads=2)
    save_encoder(tmp_path / "enc.pt", a)
    torch.manual_seed(1)
    b = TransformerEncoder1D(d_model=16, n_layers=1, n_heads=2)
    report = load_encoder(b, tmp_path / "enc.pt")
    assert report.new == ["head.1.weight", "head.1.bias"] and report.unused == []
    for k, v in a.state_dict().items():
        assert torch.equal(b.state_dict()[k], v) != k.startswith("head.")


def test_encoder_file_errors_name_the_file_and_the_fix(tmp_path):
    net = TransformerEncoder1D(d_model=16, n_layers=1, n_heads=2)
    with pytest.raises(InputError, match="does not exist"):
        load_encoder(net, tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="junk.pt is not an encoder file"):
        load_encoder(net, tmp_path / "junk.pt")
    save_encoder(tmp_path / "wide.pt", TransformerEncoder1D(d_model=32, n_layers=1, n_heads=2))
    with pytest.raises(InputError, match=r"another size.*model.backbone"):
        load_encoder(net, tmp_path / "wide.pt")


TINY_TRANSFORMER = [
    "model=transformer",
    "model.backbone.d_model=32",
    "model.backbone.n_layers=1",
    "model.backbone.n_heads=4",
]


def _cfg(name, tmp_path, library, run, *overrides):
    return compose_run(name, tmp_path, library, run, *QUIET_TRAINER, *overrides)


def test_pretraining_lowers_the_masked_loss_and_init_from_loads_the_encoder(tmp_path, tiny_library, capsys):
    result = pretrain(
        _cfg(
            "pretrain",
            tmp_path,
            tiny_library,
            "pre",
            *TINY_TRANSFORMER,
            "data.batch_size=64",
            "trainer.max_epochs=3",
            "pretrain.val_molecules=400",
            "model.optimizer.lr=2e-3",
        )
    )
    losses = [h["val_mlm_loss"] for h in result["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0] - 0.3, losses
    assert result["history"][-1]["val_mlm_accuracy"] > 0.3
    enc = tmp_path / "pre" / "encoder.pt"
    assert (tmp_path / "pre" / "pretrain.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "pre" / "results.json").read_text())["history"] == result["history"]

    cfg = _cfg(
        "train",
        tmp_path,
        tiny_library,
        "ft",
        *TINY_TRANSFORMER,
        f"model.init_from={enc}",
        "data.batch_size=64",
        "debug=fdr",
    )
    module = instantiate(run.module_config(cfg))
    saved = torch.load(enc, weights_only=True)["state_dict"]
    own = module.backbone.state_dict()
    assert all(torch.equal(own[k], v) for k, v in saved.items()) and set(own) - set(saved) == {
        "head.1.weight",
        "head.1.bias",
    }
    out = train(cfg)
    assert out["init_from"]["loaded"] == len(saved) and out["init_from"]["new"] == ["head.1.weight", "head.1.bias"]
    assert "loaded" in capsys.readouterr().out


def test_pretraining_a_model_without_per_character_features_is_a_clear_error(tmp_path, tiny_library):
    with pytest.raises(InputError, match="CNN1D has no `features`.*pretrainable models"):
        pretrain(_cfg("pretrain", tmp_path, tiny_library, "pre", "model=cnn", "data.batch_size=64"))


# ----------------------------------------------------------------------------- ChemBERTa and tokenizers
TINY_ROBERTA = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


def test_smiles_are_recovered_from_character_codes():
    codes = encode(SMILES)
    assert decode(codes) == SMILES


def test_saved_tokenizer_reloads_offline_with_the_same_ids(smiles_tokenizer, tmp_path):
    code = (
        "import json, sys; from transformers import AutoTokenizer; "
        f"t = AutoTokenizer.from_pretrained({str(smiles_tokenizer)!r}); print(json.dumps(t({SMILES!r})['input_ids']))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == load_tokenizer(str(smiles_tokenizer))(SMILES)["input_ids"]


def test_unreachable_hub_id_is_one_clear_error():
    code = "from belka_lab.models.chemberta import ChemBERTa\nChemBERTa(pretrained='DeepChem/ChemBERTa-77M-MLM')"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "InputError" in r.stderr and "DeepChem/ChemBERTa-77M-MLM" in r.stderr and "--local-dir" in r.stderr


def test_chemberta_from_saved_weights_equals_the_saved_model(smiles_tokenizer, tmp_path):
    torch.manual_seed(0)
    a = ChemBERTa(tokenizer=str(smiles_tokenizer), config=TINY_ROBERTA).eval()
    a.encoder.save_pretrained(tmp_path / "weights")
    b = ChemBERTa(pretrained=str(tmp_path / "weights"), tokenizer=str(smiles_tokenizer)).eval()
    b.head.load_state_dict(a.head.state_dict())
    t = torch.tensor(load_tokenizer(str(smiles_tokenizer))(SMILES, padding=True)["input_ids"])
    with torch.no_grad():
        torch.testing.assert_close(a(t, t != a.pad_token_id), b(t, t != b.pad_token_id))


def test_token_cache_round_trips_and_is_rebuilt_only_for_another_tokenizer(tiny_prepared, smiles_tokenizer, tmp_path):
    prepared = tmp_path / "prepared"
    shutil.copytree(tiny_prepared, prepared)
    spec = TokenizerConfig(name="pretrained", path=str(smiles_tokenizer))
    info = build_cache(spec, prepared)
    tok = load_tokenizer(str(smiles_tokenizer))
    for part in ("train", "test"):
        ids = np.load(prepared / part / "tokens_pretrained.npy")
        chars = np.load(prepared / part / "tokens.npy")
        assert ids.dtype == np.uint16 and ids.shape == (len(chars), info["width"]) and info["width"] % 8 == 0
        rows = [0, len(chars) // 2, len(chars) - 1]
        assert tok.batch_decode(ids[rows].astype(np.int64), skip_special_tokens=True) == decode(chars[rows])
        assert (ids[:, 0] == tok.bos_token_id).all() and (ids == tok.pad_token_id).any()
    stamp = (prepared / "train" / "tokens_pretrained.npy").stat().st_mtime_ns
    build_cache(spec, prepared)
    assert (prepared / "train" / "tokens_pretrained.npy").stat().st_mtime_ns == stamp  # current: not rebuilt
    other = tmp_path / "bpe64"
    train_bpe(decode(np.load(prepared / "train" / "tokens.npy")[:500]), other, vocab_size=64)
    build_cache(TokenizerConfig(name="pretrained", path=str(other)), prepared)
    assert cache_info(prepared, "train", "pretrained")["vocab_size"] == len(load_tokenizer(str(other)))


def test_too_long_molecules_name_the_row_and_the_setting(tiny_prepared, smiles_tokenizer, tmp_path):
    prepared = tmp_path / "prepared"
    shutil.copytree(tiny_prepared, prepared)
    with pytest.raises(InputError, match=r"train/tokens.npy row \d+: \d+ tokens.*raise tokenizer.max_length"):
        build_cache(TokenizerConfig(name="pretrained", path=str(smiles_tokenizer), max_length=6), prepared)
    assert (
        cache_info(prepared, "train", "pretrained") is None
        and not (prepared / "train" / "tokens_pretrained.npy").exists()
    )


def test_layerwise_lr_decay_scales_each_layer(smiles_tokenizer):
    from functools import partial

    from belka_lab.models.module import BelkaModule

    net = ChemBERTa(tokenizer=str(smiles_tokenizer), config=TINY_ROBERTA)
    opt = BelkaModule(net, partial(torch.optim.AdamW, lr=1e-3), lr_decay=0.5).configure_optimizers()
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert len(lr_of) == sum(1 for _ in net.parameters())
    assert lr_of[id(net.head[1].weight)] == pytest.approx(1e-3)
    assert lr_of[id(net.encoder.encoder.layer[1].attention.self.query.weight)] == pytest.approx(5e-4)
    assert lr_of[id(net.encoder.encoder.layer[0].attention.self.query.weight)] == pytest.approx(2.5e-4)
    assert lr_of[id(net.encoder.embeddings.word_embeddings.weight)] == pytest.approx(1.25e-4)


TINY_CHEMBERTA = ["experiment=chemberta", "data.tokenizer.vocab_size=96"] + [
    f"model.backbone.config.{k}={v}" for k, v in TINY_ROBERTA.items()
]


def test_chemberta_trains_on_its_own_cached_tokens_and_pretrains(tmp_path, tiny_library):
    result = train(
        _cfg(
            "train",
            tmp_path,
            tiny_library,
            "ft",
            *TINY_CHEMBERTA,
            "data.batch_size=64",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=5",
        )
    )
    assert np.isfinite(result["val_map"])
    assert (tmp_path / "prepared" / "train" / "tokens_bpe.npy").exists() and (
        tiny_library / "tokenizers" / "bpe-96" / "tokenizer.json"
    ).exists()
    pre = pretrain(
        _cfg(
            "pretrain",
            tmp_path,
            tiny_library,
            "pre",
            *TINY_CHEMBERTA,
            "data.batch_size=64",
            "trainer.max_epochs=1",
            "pretrain.val_molecules=300",
        )
    )
    assert np.isfinite(pre["history"][-1]["val_mlm_loss"])
    out = train(
        _cfg(
            "train",
            tmp_path,
            tiny_library,
            "ft2",
            *TINY_CHEMBERTA,
            f"model.init_from={tmp_path}/pre/encoder.pt",
            "data.batch_size=64",
            "debug=fdr",
        )
    )
    assert out["init_from"]["new"] == ["head.1.weight", "head.1.bias"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=chemberta"], "reads its own tokenizer's ids"),
        (["model=cnn", "tokenizer=bpe"], "reads symbols with 0 as padding: use tokenizer=char or tokenizer=atom"),
        (["model=chemberta", "tokenizer=atom"], "reads its own tokenizer's ids"),
    ],
)
def test_model_and_tokenizer_mismatch_is_a_clear_error(tmp_path, tiny_library, overrides, message):
    with pytest.raises(InputError, match=message):
        train(_cfg("train", tmp_path, tiny_library, "run", *overrides, "debug=fdr"))
