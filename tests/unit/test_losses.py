import math

import pytest
import torch

from belka_lab.models.losses import Objective, masked_bce, masked_focal

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


def test_objective_names_its_options_and_refuses_mixing_pos_weight_with_focal():
    with pytest.raises(ValueError, match="model.loss='mse': choose one of bce, focal"):
        Objective("mse")
    with pytest.raises(ValueError, match="model.focal.alpha=1.5"):
        Objective("focal", alpha=1.5)
    with pytest.raises(ValueError, match="with model.loss=focal use model.focal.alpha"):
        Objective("focal")(LOGITS, LABELS, KNOWN, torch.ones(3))
    assert torch.equal(Objective("bce")(LOGITS, LABELS, KNOWN)[0], masked_bce(LOGITS, LABELS, KNOWN)[0])


def test_the_module_trains_on_the_configured_loss():
    from belka_lab.models.cnn import CNN1D
    from belka_lab.models.module import BelkaModule

    torch.manual_seed(0)
    net = CNN1D(vocab_size=37, embed_dim=8, channels=[8, 8, 8], hidden=[16, 16, 16])
    module = BelkaModule(net, optimizer=torch.optim.SGD, loss="focal", focal={"gamma": 2.0, "alpha": 0.25})
    tokens = torch.randint(1, 37, (4, 142))
    batch = {"tokens": tokens, "mask": tokens != 0, "labels": LABELS.repeat(2, 1), "label_mask": KNOWN.repeat(2, 1)}
    module.log = lambda *a, **k: None
    module.train_loss.update = lambda *a, **k: None
    module.eval()  # no dropout: the two forward passes agree
    loss = module.training_step(batch, 0).detach()
    with torch.no_grad():
        total, count = masked_focal(module(tokens, tokens != 0), batch["labels"], batch["label_mask"], 2.0, 0.25)
    assert float(loss) == pytest.approx(float(total / count), rel=1e-6)
