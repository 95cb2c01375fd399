"""Count likelihoods of a DEL selection, the structure of DEL-Compose (KinDEL's count model).

Per compound the network gives ``ln e_t`` for every target (its enrichment on the target),
``ln e_c`` for every control (its enrichment on beads/matrix, where bead binders and
amplification bias show) and, for the zero-inflated likelihoods, a zero-inflation logit per
target. The expected reads of replicate j of a sample are

    control: load · e_c · d_j          target: load · e_c · e_t · d_j

(a target without a no-target control: load · e_t · d_j, the target term alone)

with d_j the replicate's depth (its total reads ÷ the number of compounds) and ``load`` the
compound's pre-selection reads relative to their mean (+½ each, so a compound never read in
the load is not zero; 1 without load counts). The loss is β·NLL(control) + NLL(target) summed
over replicates; the prediction is ln e_t + ln(1 − π) (DEL-Compose's e_t·(1 − π), as a log).

``poisson``: Poisson; ``zip``: zero-inflated Poisson (DEL-Compose's default); ``nb``:
zero-inflated negative binomial with one learned dispersion per target. ``enrichment_z`` is
del_qsar's: the network gives ln R and the loss is −log(1 − erf(|z|/√2)) of the square-root z
statistic of the summed target and control reads (``dataset/enrichment.py``), z clipped to ±5.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from belka_lab.dataset.count_spec import CountSpec
from belka_lab.dataset.enrichment import PSEUDO
from belka_lab.models.values import Values

COUNT_LOSSES = ("poisson", "zip", "nb")


def poisson_nll(k: torch.Tensor, log_rate: torch.Tensor) -> torch.Tensor:
    """−log Poisson(k; e^log_rate), elementwise."""
    return log_rate.exp() - k * log_rate + torch.lgamma(k + 1)


def zip_nll(k: torch.Tensor, log_rate: torch.Tensor, zero_logit: torch.Tensor) -> torch.Tensor:
    """−log of the zero-inflated Poisson: P(0) = π + (1 − π)e^{−λ}, P(k) = (1 − π)·Poisson(k; λ)."""
    log_pi, log_1m_pi = F.logsigmoid(zero_logit), F.logsigmoid(-zero_logit)
    zero = torch.logaddexp(log_pi, log_1m_pi - log_rate.exp())
    return torch.where(k > 0, -(log_1m_pi - poisson_nll(k, log_rate)), -zero)


def nb_log_prob(k: torch.Tensor, log_mean: torch.Tensor, log_size: torch.Tensor) -> torch.Tensor:
    """log NB(k; mean e^log_mean, size r = e^log_size): variance mean + mean²/r."""
    r = log_size.exp()
    log_r_plus_mu = torch.logaddexp(log_size, log_mean)
    return (
        torch.lgamma(k + r)
        - torch.lgamma(r)
        - torch.lgamma(k + 1)
        + r * (log_size - log_r_plus_mu)
        + k * (log_mean - log_r_plus_mu)
    )


def zinb_nll(k: torch.Tensor, log_mean: torch.Tensor, log_size: torch.Tensor, zero_logit: torch.Tensor) -> torch.Tensor:
    """−log of the zero-inflated negative binomial."""
    log_pi, log_1m_pi = F.logsigmoid(zero_logit), F.logsigmoid(-zero_logit)
    nb = nb_log_prob(k, log_mean, log_size)
    return torch.where(k > 0, -(log_1m_pi + nb), -torch.logaddexp(log_pi, log_1m_pi + nb))


def enrichment_z_nll(log_R, k_t, n_t, k_c, n_c) -> torch.Tensor:
    """del_qsar's loss of ln R for summed target reads k_t (of n_t) and control reads k_c (of n_c)."""
    x = log_R.exp() * (n_t / n_c)
    z = 2.0 * (torch.sqrt(k_t + PSEUDO) - torch.sqrt((k_c + PSEUDO) * x)) / torch.sqrt(1.0 + x)
    z = z.clamp(-5.0, 5.0).abs()
    return -torch.log1p(-torch.erf(z / math.sqrt(2.0)))


class CountLikelihood(nn.Module):
    """The ``poisson`` / ``zip`` / ``nb`` loss of a batch, and its prediction."""

    def __init__(self, name: str, spec: CountSpec, beta: float = 1.0):
        super().__init__()
        if name not in COUNT_LOSSES:
            raise ValueError(f"model.loss={name!r}: count losses are {', '.join(COUNT_LOSSES)}")
        self.name, self.beta, self.spec = name, float(beta), spec
        depth = torch.tensor(spec.totals, dtype=torch.float32) / spec.n_compounds
        self.register_buffer("log_depth", depth.clamp_min(1e-12).log(), persistent=False)
        # nb: one dispersion per target, then one per control
        self.log_size = nn.Parameter(torch.zeros(spec.n_targets + spec.n_controls)) if name == "nb" else None

    @staticmethod
    def n_outputs(name: str, n_targets: int, n_controls: int) -> int:
        return n_targets + n_controls + (n_targets if name in ("zip", "nb") else 0)

    def _nll(self, k, log_mean, zero_logit: torch.Tensor | None, size_index: int) -> torch.Tensor:
        """Per read count; the controls have no zero inflation (``zero_logit`` None)."""
        if self.name == "nb":
            log_size = self.log_size[size_index].expand_as(log_mean)
            return (
                -nb_log_prob(k, log_mean, log_size)
                if zero_logit is None
                else zinb_nll(k, log_mean, log_size, zero_logit)
            )
        if self.name == "zip" and zero_logit is not None:
            return zip_nll(k, log_mean, zero_logit)
        return poisson_nll(k, log_mean)

    def forward(
        self, out: torch.Tensor, counts: torch.Tensor, known: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed NLL over known (compound, target) pairs and each target's control, their count);
        ``out`` [B, n_outputs], ``counts`` [B, S] float, ``known`` [B, T] bool."""
        s, t_n = self.spec, self.spec.n_targets
        out = out.float()
        log_e_t, log_e_c = out[:, :t_n], out[:, t_n : t_n + s.n_controls]
        zero = out[:, t_n + s.n_controls :]
        log_load = torch.zeros(len(out), device=out.device)
        if s.load_col is not None:
            mean_load = s.totals[s.load_col] / s.n_compounds
            log_load = torch.log((counts[:, s.load_col] + 0.5) / (mean_load + 0.5))
        total = out.new_zeros(())
        known_f = known.float()
        for c, cols in enumerate(s.control_cols):  # a control's reads, weighed by the compounds of its targets
            users = [t for t in range(t_n) if s.control_of[t] == c]
            if not users:  # a control no target is compared with (its head is left untrained)
                continue
            uses = known_f[:, users].amax(dim=1)
            rate = (log_load + log_e_c[:, c])[:, None] + self.log_depth[cols]
            nll = self._nll(counts[:, cols], rate, None, t_n + c)
            total = total + self.beta * (nll.sum(dim=1) * uses).sum()
        for t, cols in enumerate(s.target_cols):
            c = s.control_of[t]
            log_base = log_load if c is None else log_load + log_e_c[:, c]  # (load · e_c) · e_t, in this order
            rate = (log_base + log_e_t[:, t])[:, None] + self.log_depth[cols]
            z = zero[:, t : t + 1].expand_as(rate) if self.name != "poisson" else None
            nll = self._nll(counts[:, cols], rate, z, t)
            total = total + (nll.sum(dim=1) * known_f[:, t]).sum()
        return total, known_f.sum()


class Readout(nn.Module):
    """A network's outputs → what a run predicts per target: probabilities for ``bce``/``focal``;
    log10 enrichment otherwise (``mse`` regresses on it; ``enrichment_z`` gives ln R; the count
    likelihoods give ln e_t and, zero-inflated, the zero logits: log10 of e_t·(1 − π)). Part of
    every exported model."""

    def __init__(self, loss: str, n_targets: int, n_controls: int = 0):
        super().__init__()
        self.n_targets, self.n_controls = int(n_targets), int(n_controls)
        self.kind = {"bce": "probability", "focal": "probability", "mse": "log10", "enrichment_z": "ln"}.get(
            loss, "zero_inflated" if loss in ("zip", "nb") else "ln"
        )

    @property
    def is_probability(self) -> bool:
        return self.kind == "probability"

    @property
    def values(self) -> Values:
        """What its outputs are, in the project's one vocabulary."""
        return Values.of(self.is_probability)

    def forward(self, out: torch.Tensor) -> torch.Tensor:
        out = out.float()
        head = out[:, : self.n_targets]
        if self.kind == "probability":
            return torch.sigmoid(head)
        if self.kind == "log10":
            return head
        if self.kind == "zero_inflated":
            head = head + F.logsigmoid(-out[:, self.n_targets + self.n_controls :])
        return head / math.log(10.0)
