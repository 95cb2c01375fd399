"""The ranking term (``model.rank_weight``): RankNet's pairwise loss on the observed order."""

import math

import pytest
import torch

from belka_lab.models.ranking import pairwise_logistic


def test_a_swapped_pair_is_pushed_back_into_the_observed_order():
    scores = torch.tensor([[0.0], [1.0]], requires_grad=True)  # compound 0 predicted below compound 1 …
    observed = torch.tensor([[2.0], [1.0]])  # … but observed above it
    total, pairs = pairwise_logistic(scores, observed, torch.ones(2, 1, dtype=torch.bool))
    total.backward()
    assert int(pairs) == 1 and float(total.detach()) == pytest.approx(math.log1p(math.exp(1.0)))
    assert scores.grad[0, 0] < 0 < scores.grad[1, 0]  # descent raises compound 0 and lowers compound 1


def test_only_the_order_of_the_observed_values_counts():
    g = torch.Generator().manual_seed(0)
    scores, observed = torch.randn(32, 3, generator=g), torch.randn(32, 3, generator=g)
    known = torch.rand(32, 3, generator=g) > 0.2
    base = pairwise_logistic(scores, observed, known)
    for transformed in (observed.exp(), 3.0 * observed - 7.0, torch.sigmoid(observed)):
        again = pairwise_logistic(scores, transformed, known)
        assert torch.allclose(again[0], base[0]) and torch.equal(again[1], base[1])
    flipped = pairwise_logistic(scores, -observed, known)  # a decreasing transform is another order
    assert not torch.allclose(flipped[0], base[0])


def test_pairs_are_the_known_compounds_of_each_target_in_a_strict_order():
    observed = torch.tensor([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])  # labels: binders above the rest
    known = torch.tensor([[True, True], [True, True], [True, False], [False, True]])
    _, pairs = pairwise_logistic(torch.zeros(4, 2), observed, known)
    assert int(pairs) == 1 * 2 + 2 * 1  # target 0: one known binder × two known non-binders; target 1: two × one


def test_the_module_adds_the_ranking_term_to_any_loss_by_its_weight():
    from belka_lab.dataset.supervision import Supervision
    from belka_lab.models.cnn import CNN1D
    from belka_lab.models.losses import named
    from belka_lab.models.module import BelkaModule

    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 37, (8, 142), generator=g)
    labels = (torch.rand(8, 3, generator=g) > 0.5).float()
    batch = {"tokens": tokens, "mask": tokens != 0, "labels": labels, "label_mask": torch.ones(8, 3, dtype=torch.bool)}
    steps = {}
    for weight in (0.0, 0.5):
        torch.manual_seed(0)
        net = CNN1D(vocab_size=37, embed_dim=8, channels=[8, 8, 8], hidden=[16, 16, 16])
        focal = named("focal").bind(Supervision(), 3)
        module = BelkaModule(net, torch.optim.SGD, loss=focal, rank_weight=weight).eval()
        module.train_loss.update = lambda *a, **k: None
        steps[weight] = float(module.training_step(batch, 0).detach())
        with torch.no_grad():
            out = module(tokens, tokens != 0)
            rank = pairwise_logistic(out, labels, batch["label_mask"])
    assert steps[0.5] == pytest.approx(steps[0.0] + 0.5 * float(rank[0] / rank[1]), rel=1e-5)


def test_a_large_batch_is_ranked_on_a_sample_of_its_compounds():
    from belka_lab.models.ranking import MOST

    g = torch.Generator().manual_seed(0)
    scores, observed = torch.randn(3 * MOST, 1, generator=g), torch.randn(3 * MOST, 1, generator=g)
    _, pairs = pairwise_logistic(scores, observed, torch.ones(3 * MOST, 1, dtype=torch.bool))
    assert int(pairs) == MOST * (MOST - 1) // 2  # the ordered pairs of MOST distinct values
