import math

import numpy as np
import pytest
import torch

from belka_lab.core.errors import InputError
from belka_lab.dataset.supervision import ReadCounts, Supervision
from belka_lab.models.losses import masked_bce, masked_focal, named, names

LABELS_ONLY = Supervision()

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 0.0, 4.0]])
LABELS = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
KNOWN = torch.tensor([[True, True, False], [True, True, True]])


def _by_hand(gamma, alpha):
    total = count = 0
    for x_row, y_row, k_row in zip(LOGITS.tolist(), LABELS.tolist(), KNOWN.tolist()):
        for x, y, k in zip(x_row, y_row, k_row):
            if not k:
                continue
            p = 1 / (1 + math.exp(-x))
            p_t = p if y == 1 else 1 - p
            a = 1.0 if alpha is None else (alpha if y == 1 else 1 - alpha)
            total += -a * (1 - p_t) ** gamma * math.log(p_t)
            count += 1
    return total, count


@pytest.mark.parametrize("gamma,alpha", [(2.0, None), (2.0, 0.25), (0.5, 0.9), (0.0, None)])
def test_focal_loss_equals_a_hand_computation_over_known_labels(gamma, alpha):
    total, count = masked_focal(LOGITS, LABELS, KNOWN, gamma, alpha)
    want_total, want_count = _by_hand(gamma, alpha)
    assert float(total) == pytest.approx(want_total, rel=1e-6) and int(count) == want_count == 5


def test_focal_with_gamma_0_and_no_alpha_is_bce_and_focuses_on_hard_labels():
    assert float(masked_focal(LOGITS, LABELS, KNOWN, 0.0)[0]) == pytest.approx(
        float(masked_bce(LOGITS, LABELS, KNOWN)[0])
    )
    easy, hard = torch.tensor([[-6.0]]), torch.tensor([[0.0]])  # a confident negative, an unsure one
    y, k = torch.zeros(1, 1), torch.ones(1, 1, dtype=torch.bool)
    ratio = lambda x: float(masked_focal(x, y, k, 2.0)[0] / masked_bce(x, y, k)[0])  # noqa: E731
    assert ratio(easy) < 1e-4 and ratio(hard) == pytest.approx(0.25)


def test_a_loss_names_its_options_and_refuses_mixing_pos_weight_with_focal():
    batch = {"labels": LABELS, "label_mask": KNOWN}
    with pytest.raises(InputError, match="loss='hinge': choose one of bce, enrichment_z, focal"):
        named("hinge")
    with pytest.raises(InputError, match="loss.alpha=1.5"):
        named("focal", alpha=1.5)
    with pytest.raises(InputError, match="with loss=focal use loss.alpha"):
        named("focal").bind(LABELS_ONLY, 3)(LOGITS, batch, torch.ones(3))
    bce = named("bce").bind(LABELS_ONLY, 3)
    assert torch.equal(bce(LOGITS, batch)[0], masked_bce(LOGITS, LABELS, KNOWN)[0])


def test_the_old_loss_overrides_say_what_to_write_now():
    from belka_lab.core.config import compose

    for old, new in [("model.loss=zip", "loss=zip"), ("model.focal.alpha=0.25", "loss.alpha=0.25")]:
        with pytest.raises(InputError, match=f"{old}: the training loss is a config group .* write {new}"):
            compose("train", [old])
    with pytest.raises(InputError, match="data.prepare.counts.counts=x: renamed: write data.prepare.counts.pattern=x"):
        compose("train", ["data.prepare.counts.counts=x"])


def test_a_run_of_0_9_is_read_with_its_loss_and_its_checkpoint():
    """0.9 named the loss model.loss (model.focal, model.count_beta) and the module's loss objective."""
    from omegaconf import OmegaConf

    from belka_lab.models.cnn import CNN1D
    from belka_lab.models.counts import ZeroInflatedNegativeBinomial, ZeroInflatedPoisson
    from belka_lab.models.losses import Focal, from_config
    from belka_lab.models.module import BelkaModule

    zip_ = from_config(OmegaConf.create({"model": {"loss": "zip", "count_beta": 0.5}}))
    focal = from_config(OmegaConf.create({"model": {"loss": "focal", "focal": {"gamma": 1.0, "alpha": 0.25}}}))
    assert isinstance(zip_, ZeroInflatedPoisson) and zip_.beta == 0.5
    assert isinstance(focal, Focal) and (focal.gamma, focal.alpha) == (1.0, 0.25)
    assert from_config(OmegaConf.create({"model": {}})).name == "bce"
    stale = OmegaConf.create({"loss": {"_target_": "belka_lab.models.losses.BCE"}, "model": {"loss": "zip"}})
    with pytest.raises(InputError, match="model.loss: the training loss is the `loss` config group"):
        from_config(stale)  # a 0.9 experiment file's model.loss would otherwise be ignored

    spec = _spec()
    net = lambda: CNN1D(vocab_size=37, embed_dim=8, channels=[8, 8, 8], hidden=[16, 16, 16])  # noqa: E731
    saved = BelkaModule(net(), torch.optim.SGD, loss=named("nb").bind(ReadCounts(spec, "ratio_lb"), 2))
    with torch.no_grad():
        saved.loss.log_size.copy_(torch.arange(3.0))
    # 0.9's module held the loss as `objective`, nb's dispersions in its `counts` likelihood
    old_keys = {k.replace("loss.", "objective.counts.", 1): v for k, v in saved.state_dict().items()}
    assert "objective.counts.log_size" in old_keys
    checkpoint = {"state_dict": old_keys}
    loaded = BelkaModule(net(), torch.optim.SGD, loss=named("nb").bind(ReadCounts(spec, "ratio_lb"), 2))
    loaded.on_load_checkpoint(checkpoint)
    loaded.load_state_dict(checkpoint["state_dict"])
    assert isinstance(loaded.loss, ZeroInflatedNegativeBinomial)
    assert torch.equal(loaded.loss.log_size, torch.arange(3.0))


def test_the_module_trains_on_the_configured_loss():
    from belka_lab.models.cnn import CNN1D
    from belka_lab.models.module import BelkaModule

    torch.manual_seed(0)
    net = CNN1D(vocab_size=37, embed_dim=8, channels=[8, 8, 8], hidden=[16, 16, 16])
    focal = named("focal", gamma=2.0, alpha=0.25).bind(LABELS_ONLY, 3)
    module = BelkaModule(net, optimizer=torch.optim.SGD, loss=focal)
    tokens = torch.randint(1, 37, (4, 142))
    batch = {"tokens": tokens, "mask": tokens != 0, "labels": LABELS.repeat(2, 1), "label_mask": KNOWN.repeat(2, 1)}
    module.log = lambda *a, **k: None
    module.train_loss.update = lambda *a, **k: None
    module.eval()  # no dropout: the two forward passes agree
    loss = module.training_step(batch, 0).detach()
    with torch.no_grad():
        total, count = masked_focal(module(tokens, tokens != 0), batch["labels"], batch["label_mask"], 2.0, 0.25)
    assert float(loss) == pytest.approx(float(total / count), rel=1e-6)


# ---------------------------------------------------------------------- count likelihoods


def _random_counts(seed=0, n=64):
    g = torch.Generator().manual_seed(seed)
    k = torch.poisson(torch.rand(n, 5, generator=g) * 6.0) * (torch.rand(n, 5, generator=g) > 0.3)
    return k, torch.randn(n, 5, generator=g), torch.randn(n, 5, generator=g), torch.randn(n, 5, generator=g)


def test_count_log_likelihoods_equal_torch_distributions_and_scipy():
    from scipy.stats import nbinom

    from belka_lab.models.counts import nb_log_prob, poisson_nll, zinb_nll, zip_nll

    k, log_rate, zero_logit, log_size = _random_counts()
    poisson = torch.distributions.Poisson(log_rate.exp())
    assert torch.allclose(poisson_nll(k, log_rate), -poisson.log_prob(k), atol=1e-5)
    pi = torch.sigmoid(zero_logit)
    zip_p = torch.where(k == 0, pi + (1 - pi) * poisson.log_prob(k).exp(), (1 - pi) * poisson.log_prob(k).exp())
    assert torch.allclose(zip_nll(k, log_rate, zero_logit), -zip_p.log(), atol=1e-5)
    size, mean = log_size.exp(), log_rate.exp()
    nb = torch.distributions.NegativeBinomial(total_count=size, probs=mean / (size + mean))
    assert torch.allclose(nb_log_prob(k, log_rate, log_size), nb.log_prob(k), atol=1e-4)
    want = nbinom.logpmf(k.numpy(), size.numpy(), (size / (size + mean)).numpy())
    assert np.allclose(nb_log_prob(k, log_rate, log_size).numpy(), want, atol=1e-4)
    zinb_p = torch.where(k == 0, pi + (1 - pi) * nb.log_prob(k).exp(), (1 - pi) * nb.log_prob(k).exp())
    assert torch.allclose(zinb_nll(k, log_rate, log_size, zero_logit), -zinb_p.log(), atol=1e-4)


def test_del_qsars_loss_matches_its_published_check():
    from belka_lab.models.counts import enrichment_z_nll

    # del_qsar's check: 15 target and 5 control reads at equal depth; R at z = 0, +2, -2
    R = torch.tensor([2.8604651162790704, 1.128009901001709, 9.570765609202377], dtype=torch.float64)
    loss = enrichment_z_nll(
        R.log(), torch.full((3,), 15.0, dtype=torch.float64), 1e6, torch.full((3,), 5.0, dtype=torch.float64), 1e6
    )
    assert float(loss.sum()) == pytest.approx(6.1801, abs=1e-3)
    assert float(loss[0]) == pytest.approx(0.0, abs=1e-9)


def _spec():
    from belka_lab.dataset.count_spec import CountSpec

    # two targets with 2 replicates each, one control with 2, a load column; 1,000 compounds
    return CountSpec([[0, 1], [2, 3]], [[4, 5]], [0, 0], 6, [5e3, 6e3, 4e3, 4e3, 5e3, 5e3, 2e3], 1000)


COUNT_LOSSES = [name for name in names() if named(name).needs != "labels"]


def test_the_registry_holds_every_loss_of_the_docs():
    assert {"bce", "focal", "mse", "enrichment_z", "poisson", "zip", "nb"} <= set(names())


@pytest.mark.parametrize("name", COUNT_LOSSES)
def test_every_count_loss_reaches_every_output_and_parameter(name):
    spec = _spec()
    objective = named(name).bind(ReadCounts(spec, "ratio_lb"), spec.n_targets)
    out = torch.randn(16, objective.n_outputs, requires_grad=True)
    g = torch.Generator().manual_seed(1)
    batch = {
        "counts": torch.poisson(torch.full((16, 7), 4.0), generator=g),
        "scores": torch.randn(16, 2, generator=g),
        "label_mask": torch.ones(16, 2, dtype=torch.bool),
        "index": torch.arange(16),
    }
    total, count = objective(out, batch)
    total.backward()
    assert count == 32 and torch.isfinite(total)
    assert (out.grad.abs().sum(0) > 0).all()  # every head: targets, control, zero inflation
    for p in objective.parameters():  # nb's dispersions
        assert p.grad is not None and (p.grad.abs() > 0).all()
    assert objective.readout(out.detach()).shape == (16, 2)
    masked = dict(batch, label_mask=torch.zeros(16, 2, dtype=torch.bool))
    assert float(objective(out, masked)[1]) == 0.0


@pytest.mark.parametrize("name", COUNT_LOSSES)
def test_a_count_loss_without_counts_is_one_clear_error(name):
    needs = named(name).needs
    with pytest.raises(InputError, match=f"loss={name} learns from a count table's {needs}"):
        named(name).bind(LABELS_ONLY, 3)


def test_a_loss_that_compares_with_a_control_refuses_a_table_without_one():
    from belka_lab.dataset.count_spec import CountSpec

    spec = CountSpec([[0, 1]], [], [None], 2, [5e3, 6e3, 2e3], 1000, ["MAPK14"])
    for name in names():
        loss = named(name)
        if loss.needs_control:
            with pytest.raises(InputError, match=f"loss={name} compares target reads .* MAPK14 has none"):
                loss.bind(ReadCounts(spec, "normalized_z"), 1)
        elif loss.needs != "labels":
            assert loss.bind(ReadCounts(spec, "normalized_z"), 1).n_outputs >= 1


READ_LOSSES = [name for name in COUNT_LOSSES if named(name).needs == "counts"]


@pytest.mark.parametrize("name, spread", [(n, 0.6 if named(n).needs_control else 1.2) for n in READ_LOSSES])
def test_a_count_loss_recovers_the_true_enrichments_of_a_simulated_selection(name, spread):
    """DEL-Compose's generative story at ~10 reads a replicate; a free output per compound trained
    on the loss must rank the compounds' true target enrichments (Spearman >= 0.9). del_qsar's
    z loss has the observed ratio as its optimum, whose own noise limits it (it does not pool the
    control over targets), and is clipped at |z| = 5, where its gradient stops: on the compounds
    within that reach of R = 1, where training starts, it must come within 5% of the observed
    ratio's Spearman with the truth."""
    from scipy.stats import spearmanr

    from belka_lab.dataset import enrichment
    from belka_lab.dataset.count_spec import CountSpec

    rng = np.random.default_rng(0)
    n = 1000
    log_e_t, log_e_c = rng.normal(0, spread, (n, 2)), rng.normal(0, 0.5, n)
    load = rng.lognormal(0, 0.5, n)
    depth = 10.0 / np.mean(load * np.exp(log_e_c))
    cols = []
    for t in range(2):
        cols += [
            rng.poisson(load * np.exp(log_e_c + log_e_t[:, t]) * depth / np.exp(log_e_t[:, t]).mean()) for _ in range(3)
        ]
    cols += [rng.poisson(load * np.exp(log_e_c) * depth) for _ in range(3)]
    cols.append(rng.poisson(load * 5.0))
    counts = torch.tensor(np.stack(cols, 1), dtype=torch.float32)
    spec = CountSpec([[0, 1, 2], [3, 4, 5]], [[6, 7, 8]], [0, 0], 9, counts.sum(0).tolist(), n)
    objective = named(name).bind(ReadCounts(spec, "ratio_lb"), spec.n_targets)
    torch.manual_seed(0)
    outputs = torch.nn.Parameter(torch.zeros(n, objective.n_outputs))
    opt = torch.optim.Adam([outputs, *objective.parameters()], lr=0.08)
    batch = {"counts": counts, "label_mask": torch.ones(n, 2, dtype=torch.bool)}
    for _ in range(1000 if name == "enrichment_z" else 250):  # the z loss is cheap; its gradient is small
        opt.zero_grad()
        total, count = objective(outputs, batch)
        (total / count).backward()
        opt.step()
    predicted = objective.readout(outputs.detach()).numpy()
    for t in range(2):
        bar, reach = 0.9, np.ones(n, bool)
        if name == "enrichment_z":
            k = counts.numpy()
            k_t, k_c = k[:, 3 * t : 3 * t + 3].sum(1), k[:, 6:9].sum(1)
            reach = np.abs(enrichment.ratio_z(1.0, k_t, k_t.sum(), k_c, k_c.sum())) < 5
            observed = enrichment.ratio(k_t, 1.0, k_c, 1.0)
            bar = 0.95 * spearmanr(observed[reach], log_e_t[reach, t]).statistic
        assert spearmanr(predicted[reach, t], log_e_t[reach, t]).statistic >= bar


# ---------------------------------------------------------------------- selection rounds


def _rounds_spec(totals, n):
    from belka_lab.dataset.count_spec import CountSpec

    # one target read after rounds 1, 2, 3 (two replicates each), one control (two), a load column
    rounds = [[1, 1, 2, 2, 3, 3]]
    return CountSpec([[0, 1, 2, 3, 4, 5]], [[6, 7]], [0], 8, totals, n, ["BRD4"], target_rounds=rounds)


def test_a_likelihood_of_rounds_equals_scipy_with_the_target_enrichment_once_per_round():
    from scipy.stats import poisson

    g = torch.Generator().manual_seed(0)
    n = 40
    counts = torch.poisson(torch.full((n, 9), 3.0), generator=g)
    spec = _rounds_spec(counts.sum(0).tolist(), n)
    loss = named("poisson").bind(ReadCounts(spec, "ratio_lb"), 1)
    out = torch.randn(n, loss.n_outputs, generator=g) * 0.5
    total, count = loss(out, {"counts": counts, "label_mask": torch.ones(n, 1, dtype=torch.bool)})
    k, depth = counts.double().numpy(), np.asarray(spec.totals) / n
    load = (k[:, 8] + 0.5) / (spec.totals[8] / n + 0.5)
    e_t, e_c = out[:, 0].double().exp().numpy(), out[:, 1].double().exp().numpy()
    want = 0.0
    for j, r in enumerate([1, 1, 2, 2, 3, 3]):
        want -= poisson.logpmf(k[:, j], load * e_c * e_t**r * depth[j]).sum()
    for j in (6, 7):
        want -= poisson.logpmf(k[:, j], load * e_c * depth[j]).sum()
    assert float(total) == pytest.approx(want, rel=1e-4) and int(count) == n


def test_a_likelihood_of_rounds_recovers_the_true_enrichments_of_a_three_round_selection():
    """Rounds 1–3 of one target, ~10 reads a replicate in round 1: the zero-inflated Poisson with the
    enrichment once per round ranks the true enrichments of its compounds (Spearman >= 0.9)."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    n = 1000
    log_e_t, log_e_c, load = rng.normal(0, 0.8, n), rng.normal(0, 0.5, n), rng.lognormal(0, 0.5, n)
    cols = []
    for r in (1, 1, 2, 2, 3, 3):
        amount = load * np.exp(log_e_c + r * log_e_t)
        cols.append(rng.poisson(amount * 10.0 / amount.mean()))
    cols += [rng.poisson(load * np.exp(log_e_c) * 10.0 / (load * np.exp(log_e_c)).mean()) for _ in range(2)]
    cols.append(rng.poisson(load * 5.0))
    counts = torch.tensor(np.stack(cols, 1), dtype=torch.float32)
    loss = named("zip").bind(ReadCounts(_rounds_spec(counts.sum(0).tolist(), n), "ratio_lb"), 1)
    torch.manual_seed(0)
    outputs = torch.nn.Parameter(torch.zeros(n, loss.n_outputs))
    opt = torch.optim.Adam([outputs], lr=0.08)
    batch = {"counts": counts, "label_mask": torch.ones(n, 1, dtype=torch.bool)}
    for _ in range(250):
        opt.zero_grad()
        total, count = loss(outputs, batch)
        (total / count).backward()
        opt.step()
    predicted = loss.readout(outputs.detach()).numpy()[:, 0]
    assert spearmanr(predicted, log_e_t).statistic >= 0.9
