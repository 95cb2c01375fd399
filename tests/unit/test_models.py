"""Every backbone in conf/model/: contract, gradients, padding invariance, size, learning."""

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate

from belka_lab.core.config import CONFIG_DIR
from belka_lab.features.fingerprints import ECFPConfig, ecfp
from belka_lab.features.graphs import GraphConfig, graphs
from belka_lab.models.chemberta import ChemBERTa
from belka_lab.models.cnn import CNN1D
from belka_lab.models.fp_mlp import FingerprintMLP
from belka_lab.models.graph import GraphNet
from belka_lab.models.losses import masked_bce
from belka_lab.models.mamba import Mamba1D
from belka_lab.models.resnet import ResNet1D
from belka_lab.models.se_xception import SEXception1D
from belka_lab.models.synthon import SynthonNet
from belka_lab.models.transformer import TransformerEncoder1D
from belka_lab.tokens.characters import encode
from belka_lab.tokens.huggingface import load_tokenizer

MODELS = sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml"))
# overrides that keep each backbone family small enough for CPU tests; the structure stays
SMALL = {
    "SEXception1D": ["model.backbone.width=0.0625", "model.backbone.depth=0.5", "model.backbone.head_hidden=32"],
    "ResNet1D": ["model.backbone.width=0.125", "model.backbone.depth=0.5", "model.backbone.head_hidden=32"],
    "TransformerEncoder1D": ["model.backbone.d_model=32", "model.backbone.n_layers=1", "model.backbone.n_heads=4"],
    "Mamba1D": ["model.backbone.d_model=32", "model.backbone.n_layers=1"],
    "ChemBERTa": [
        f"model.backbone.config.{k}={v}"
        for k, v in dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64).items()
    ],
}
TOKENIZER: dict[str, str] = {}  # the session's small BPE tokenizer, for models that read their own tokenizer's ids


@pytest.fixture(autouse=True)
def _tokenizer(smiles_tokenizer):
    TOKENIZER["path"] = str(smiles_tokenizer)


# a tiny configuration per backbone class and its parameter count worked out by hand
HAND_COUNTED = {
    # embedding 37·4 + conv 4·2·3+2 + conv 2·3·3+3 + linear 3·5+5 + linear 5·3+3
    CNN1D: (dict(embed_dim=4, channels=(2, 3), hidden=(5,)), 148 + 26 + 21 + 20 + 18),
    # embedding 148; block 4→8: dw 12 + pw 32 + bn 16 + dw 24 + pw 64 + bn 16 + SE (72 + 72) + proj 32 + bn 16;
    # block 8→16 (s2): dw 24 + pw 128 + bn 32 + dw 48 + pw 256 + bn 32 + SE (136 + 144) + proj 128 + bn 32; head 16·3+3
    SEXception1D: (dict(embed_dim=4, stages=((8, 1, 1), (16, 1, 2)), head_hidden=0), 148 + 356 + 960 + 51),
    # embedding 148; stem conv 4·8·3 + bn 16;
    # bottleneck 8→16 (mid 8): 64 + 16 + 192 + 16 + 128 + 32 + proj 128 + bn 32; head 51
    ResNet1D: (
        dict(embed_dim=4, stem_channels=8, stages=((16, 1, 1),), pool="mean", head_hidden=0),
        148 + 112 + 608 + 51,
    ),
    # embedding 38·8 (+[MASK]) + positions 143·8 + cls 8; block: ln 16 + qkv 8·24+24 + proj 72 + ln 16
    # + mlp 8·16+16 + 16·8+8; final ln 16; head 8·3+3
    TransformerEncoder1D: (
        dict(d_model=8, n_layers=1, n_heads=2, mlp_ratio=2, positions="learned", pool="cls", head_hidden=0),
        304 + 1144 + 8 + (16 + 216 + 72 + 16 + 144 + 136) + 16 + 27,
    ),
    # embedding 38·4; block: rms 4 + mixer (d_inner 8, dt_rank 1): in 4·16 + conv 8·2+8 + x_proj 8·5
    # + dt_proj 1·8+8 + A_log 8·2 + D 8 + out 8·4; final rms 4; head 4·3+3
    Mamba1D: (
        dict(d_model=4, n_layers=1, d_state=2, expand=2, d_conv=2, bidirectional=False, head_hidden=0),
        152 + 4 + 200 + 4 + 15,
    ),
    # RoBERTa, hidden 8, 1 layer, 2 heads, intermediate 16, 146 positions, V tokens:
    # embeddings V·8 + 146·8 + 2 token types·8 + ln 16;
    # layer: q, k, v 3·(64+8) + out 72 + ln 16 + up 8·16+16 + down 16·8+8 + ln 16; head 8·3+3 (V added in the test)
    ChemBERTa: (
        dict(
            config=dict(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16), head_hidden=0
        ),
        146 * 8 + 16 + 16 + (216 + 72 + 16 + 144 + 136 + 16) + 27,
    ),
    # linear 16·5+5 + batch norm 2·5 + linear 5·3+3
    FingerprintMLP: (dict(n_bits=16, hidden=(5,)), 85 + 10 + 18),
    # 4 blocks of 16 bits, 2 cycles, hidden 4, 1 head: structure 16·4+4 + 4·4+4; ids (4+1)·4; cycles 2·4;
    # one pair 8·4+4 + 4·4+4; whole 8·4+4 + 4·4+4; attention in 3·16+12, out 16+4; head 8·4+4 + 4·3+3
    SynthonNet: (
        dict(bits=np.zeros((4, 2), np.uint8), seen=np.ones(4, bool), cycles=2, hidden=4, heads=1),
        88 + 20 + 8 + 56 + 56 + 80 + 51,
    ),
}
HAND_COUNTED[GraphNet] = (  # chemprop: W_i (72+14)·4, W_h 4·4, W_o (72+4)·4+4; head 4·5+5 + 5·3+3
    dict(d_h=4, depth=2, hidden=(5,)),
    344 + 16 + 308 + 25 + 18,
)
BLOCKS = 12  # the block table of a synthon network under test: 12 blocks, their bits drawn at random
SMILES = [
    "C#CC[C@@H](CC(=O)N[Dy])Nc1nc(Nc2ccc(C=C)cc2)nc(Nc2ccc(C=C)cc2)n1",
    "O=C(N[Dy])[C@@H](Cc1ccccc1)Nc1nc(NCCO)nc(NCc2ccc(Br)cc2)n1",
    "CCO",
    "C(=O)N[Dy]",
]


def _compose(name: str, small: bool = True):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        base = [f"model={name}"]
        cfg = compose("train", overrides=base)
        cls = get_class(cfg.model.backbone._target_)
        if cls is ChemBERTa:
            base += ["tokenizer=pretrained", f"data.tokenizer.path={TOKENIZER['path']}"]
        cfg = compose("train", overrides=base + (SMALL.get(cls.__name__, []) if small else []))
    return cfg


def build(config, n_outputs: int = 3):
    """A backbone of ``config`` as the data would build it (a synthon network: on a random table of
    ``BLOCKS`` blocks, the last two unseen, three cycles)."""
    if get_class(config._target_).reads == "blocks":
        bits = np.random.default_rng(0).integers(0, 256, (BLOCKS, 256)).astype(np.uint8)
        seen = np.arange(BLOCKS) < BLOCKS - 2
        return instantiate(config, _partial_=True)(bits=bits, seen=seen, cycles=3, n_outputs=n_outputs)
    return instantiate(config, n_outputs=n_outputs)


def _backbone(name: str, small: bool = True):
    torch.manual_seed(0)
    return build(_compose(name, small).model.backbone)


def _inputs(net, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, mask) of SMILES for this backbone: character codes, its tokenizer's ids, or their
    packed ECFP bits (no padding: ``width`` leaves them whole)."""
    if net.reads == "blocks":  # one molecule without its last block
        t = torch.tensor([[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, -1]])
        return t, t >= 0
    if net.reads == "graph":  # chemprop graphs as the cache holds them
        config = GraphConfig(max_atoms=net.max_atoms, max_bonds=net.max_bonds, workers=1)
        t = torch.from_numpy(np.concatenate([rows for rows, _ in graphs(SMILES, config)])).long()
        return t, torch.ones_like(t, dtype=torch.bool)
    if net.reads == "fingerprint":
        t = torch.from_numpy(ecfp(SMILES, ECFPConfig(n_bits=net.n_bits, workers=1))[0]).long()
        return t, torch.ones_like(t, dtype=torch.bool)
    if hasattr(net, "pad_token_id"):
        tok = load_tokenizer(TOKENIZER["path"])
        t = torch.tensor(tok(SMILES, padding="max_length", max_length=width or 144)["input_ids"])
        return t, t != net.pad_token_id
    t = _tokens()[:, :width] if width else _tokens()
    return t, t != 0


def _tokens() -> torch.Tensor:
    return torch.from_numpy(encode(SMILES)).long()


@pytest.mark.parametrize("name", MODELS)
def test_backbone_gives_finite_logits_for_three_proteins(name):
    net = _backbone(name).eval()
    t, m = _inputs(net)
    with torch.no_grad():
        out = net(t, m)
    assert out.shape == (len(SMILES), 3) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_every_parameter(name):
    net = _backbone(name).train()
    net(*_inputs(net)).sum().backward()
    dead = [
        n
        for n, p in net.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0
    ]
    assert dead == []


@pytest.mark.parametrize("name", MODELS)
def test_prediction_does_not_depend_on_the_amount_of_padding(name):
    net = _backbone(name).eval()
    with torch.no_grad():
        full = net(*_inputs(net))
        short = net(*_inputs(net, 100))
    torch.testing.assert_close(full, short, rtol=1e-5, atol=1e-6)


def test_every_backbone_class_has_a_hand_counted_size():
    classes = {get_class(_compose(n, small=False).model.backbone._target_) for n in MODELS}
    assert classes <= set(HAND_COUNTED), f"add a hand-counted tiny config for {classes - set(HAND_COUNTED)}"


@pytest.mark.parametrize("cls", list(HAND_COUNTED), ids=lambda c: c.__name__)
def test_parameter_count_matches_the_hand_count(cls):
    kwargs, expected = HAND_COUNTED[cls]
    if cls is ChemBERTa:
        kwargs = dict(kwargs, tokenizer=TOKENIZER["path"])
        expected += 8 * len(load_tokenizer(TOKENIZER["path"]))  # the word embeddings
    assert sum(p.numel() for p in cls(**kwargs).parameters()) == expected


def _stage_lengths(net: SEXception1D) -> list[int]:
    lengths, ends, i = [], [], 0
    for _, n_blocks, _ in net.stage_config:
        i += n_blocks
        ends.append(net.blocks[i - 1])
    hooks = [b.register_forward_hook(lambda m, inp, out: lengths.append(out[0].shape[-1])) for b in ends]
    t = _tokens()
    net.eval()(t, t != 0)
    for h in hooks:
        h.remove()
    return lengths


def test_se_xception_versions_have_the_reference_stage_lengths():
    assert _stage_lengths(_backbone("se_xception_v1")) == [142, 71, 36, 18]
    assert _stage_lengths(_backbone("se_xception_v2")) == [142, 71, 71]
    assert _stage_lengths(_backbone("se_xception")) == [142, 71, 71, 36]
    v3 = _compose("se_xception", small=False).model.backbone
    assert [list(s) for s in v3.stages] == [[256, 4, 1], [512, 2, 2], [768, 2, 1], [1024, 2, 2]]
    assert len(instantiate(v3).blocks) == 10


@pytest.mark.parametrize("cls", [SEXception1D, ResNet1D], ids=lambda c: c.__name__)
def test_channels_last_layout_is_the_same_network(cls):
    kwargs = dict(embed_dim=8, stages=((16, 2, 1), (24, 1, 2), (32, 1, 2)), head_hidden=8)
    a = cls(**kwargs).double()
    b = cls(**kwargs, channels_last=True).double()
    b.load_state_dict(a.state_dict())
    t = _tokens()
    for train in (True, False):
        a.train(train), b.train(train)
        torch.manual_seed(1)
        ya = a(t, t != 0)
        torch.manual_seed(1)
        yb = b(t, t != 0)
        torch.testing.assert_close(ya, yb, rtol=0, atol=1e-12)


@pytest.mark.slow  # a short training run per backbone
@pytest.mark.parametrize("name", MODELS)
def test_backbone_overfits_a_small_batch(name):
    net = _backbone(name).train()
    rng = np.random.default_rng(0)
    t = _inputs(net, width=64)[0].repeat(4, 1)  # sequences cut to 64 positions: the scans and attention are shorter
    if net.reads == "blocks":  # 16 distinct compounds of the table's blocks
        t = torch.from_numpy(rng.permutation(BLOCKS**3)[:16]).long()[:, None] // BLOCKS ** torch.arange(3) % BLOCKS
        m = t >= 0
    else:
        lo, hi = getattr(net, "symbol_range", (1, 36))
        t[4:, 20:30] = torch.from_numpy(rng.integers(lo, hi + 1, (12, 10)))  # 16 distinct molecules
        m = t != getattr(net, "pad_token_id", 0)
    labels = torch.from_numpy(rng.random((16, 3)) < 0.3).float()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    for _ in range(120):  # within 120 steps; stopped once there
        total, count = masked_bce(net(t, m), labels, torch.ones_like(labels, dtype=torch.bool))
        loss = total / count
        if loss.item() < 0.05:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
