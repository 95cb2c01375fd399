"""Count likelihoods of a DEL selection, the structure of DEL-Compose (KinDEL's count model).

Per compound the network gives ``ln e_t`` for every target (its enrichment on the target),
``ln e_c`` for every control (its enrichment on beads/matrix, where bead binders and
amplification bias show) and, for the zero-inflated likelihoods, a zero-inflation logit per
target. The expected reads of replicate j of a sample are

    control: load · e_c · d_j          target: load · e_c · e_t · d_j

(a target without a no-target control: load · e_t · d_j, the target term alone; a selection of
several rounds, whose columns name their round r: load · e_c · e_t^r · d_j — the target enriches
once per round, the control's capture and the load once)

with d_j the replicate's depth (its total reads ÷ the number of compounds) and ``load`` the
compound's pre-selection reads relative to their mean (+½ each, so a compound never read in
the load is not zero; 1 without load counts). The loss is β·NLL(control) + NLL(target) summed
over replicates; the prediction is ln e_t + ln(1 − π) (DEL-Compose's e_t·(1 − π), as a log).

One class per likelihood (``conf/loss/<name>.yaml`` names it): ``poisson`` (:class:`Poisson`);
``zip``, zero-inflated Poisson (DEL-Compose's default); ``nb``, zero-inflated negative binomial
with one learned dispersion per sample; ``negative_binomial``, the same without zero inflation.
``enrichment_z`` is del_qsar's: the network gives ln R and the loss is −log(1 − erf(|z|/√2)) of
the square-root z statistic of the summed target and control reads (``dataset/enrichment.py``'s
:func:`ratio_z`), z clipped to ±5.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from belka_lab.dataset.enrichment import ratio_z
from belka_lab.models.losses import TrainingLoss, known_of


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
    z = ratio_z(log_R.exp(), k_t, n_t, k_c, n_c).clamp(-5.0, 5.0).abs()
    return -torch.log1p(-torch.erf(z / math.sqrt(2.0)))


class EnrichmentZ(TrainingLoss):
    """del_qsar's loss: the network gives ln R of each target against its control."""

    name = "enrichment_z"
    needs = "counts"
    needs_control = True
    readout_kind = "ln"

    def forward(self, out, batch: dict, pos_weight=None) -> tuple[torch.Tensor, torch.Tensor]:
        s, counts, known = self.spec, batch["counts"], known_of(batch)
        total = out.new_zeros((), dtype=torch.float32)
        for t, cols in enumerate(s.target_cols):
            ctrl = s.control_cols[s.control_of[t]]
            n_t, n_c = s.reads(cols), s.reads(ctrl)
            nll = enrichment_z_nll(out[:, t].float(), counts[:, cols].sum(1), n_t, counts[:, ctrl].sum(1), n_c)
            total = total + (nll * known[:, t].float()).sum()
        return total, known.float().sum()


class CountLikelihood(TrainingLoss):
    """A likelihood of every replicate's reads (see the module's story). A subclass gives
    :meth:`nll` of a sample's reads; ``zero_inflated`` adds a zero logit per target to the head.
    ``beta`` weighs the control reads' term."""

    needs = "counts"
    zero_inflated = False

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = float(beta)

    def _bound(self) -> None:
        depth = torch.tensor(self.spec.totals, dtype=torch.float32) / self.spec.n_compounds
        self.register_buffer("log_depth", depth.clamp_min(1e-12).log(), persistent=False)
        column_round = torch.ones(len(self.spec.totals))
        for cols, rounds in zip(self.spec.target_cols, self.spec.target_rounds or []):
            column_round[cols] = torch.tensor(rounds, dtype=torch.float32)
        self.register_buffer("column_round", column_round, persistent=False)  # each count column's round

    @property
    def n_controls(self) -> int:
        return self.spec.n_controls

    @property
    def n_outputs(self) -> int:
        return self.n_targets + self.n_controls + (self.n_targets if self.zero_inflated else 0)

    @property
    def readout_kind(self) -> str:
        return "zero_inflated" if self.zero_inflated else "ln"

    def nll(self, k, log_mean, zero_logit: torch.Tensor | None, sample: int) -> torch.Tensor:
        """−log P(reads ``k``) per read count, for sample ``sample`` (targets first, then
        controls); the controls have no zero inflation (``zero_logit`` None)."""
        raise NotImplementedError

    def forward(self, out: torch.Tensor, batch: dict, pos_weight=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed NLL over known (compound, target) pairs and each target's control, their count);
        ``out`` [B, n_outputs], ``batch["counts"]`` [B, S] float, known labels [B, T]."""
        s, t_n = self.spec, self.spec.n_targets
        counts, known = batch["counts"], known_of(batch)
        out = out.float()
        log_e_t, log_e_c = out[:, :t_n], out[:, t_n : t_n + s.n_controls]
        zero = out[:, t_n + s.n_controls :]
        log_load = torch.zeros(len(out), device=out.device)
        if s.load_col is not None:
            mean_load = s.reads([s.load_col]) / s.n_compounds
            log_load = torch.log((counts[:, s.load_col] + 0.5) / (mean_load + 0.5))
        total = out.new_zeros(())
        known_f = known.float()
        for c, cols in enumerate(s.control_cols):  # a control's reads, weighed by the compounds of its targets
            users = [t for t in range(t_n) if s.control_of[t] == c]
            if not users:  # a control no target is compared with (its head is left untrained)
                continue
            uses = known_f[:, users].amax(dim=1)
            rate = (log_load + log_e_c[:, c])[:, None] + self.log_depth[cols]
            nll = self.nll(counts[:, cols], rate, None, t_n + c)
            total = total + self.beta * (nll.sum(dim=1) * uses).sum()
        for t, cols in enumerate(s.target_cols):
            c = s.control_of[t]
            log_base = log_load if c is None else log_load + log_e_c[:, c]  # (load · e_c) · e_t, in this order
            if s.target_rounds is None:
                rate = (log_base + log_e_t[:, t])[:, None] + self.log_depth[cols]
            else:  # e_t once per round
                rate = log_base[:, None] + log_e_t[:, t, None] * self.column_round[cols] + self.log_depth[cols]
            z = zero[:, t : t + 1].expand_as(rate) if self.zero_inflated else None
            nll = self.nll(counts[:, cols], rate, z, t)
            total = total + (nll.sum(dim=1) * known_f[:, t]).sum()
        return total, known_f.sum()


class Poisson(CountLikelihood):
    name = "poisson"

    def nll(self, k, log_mean, zero_logit, sample):
        return poisson_nll(k, log_mean)


class ZeroInflatedPoisson(CountLikelihood):
    """DEL-Compose's default."""

    name = "zip"
    zero_inflated = True

    def nll(self, k, log_mean, zero_logit, sample):
        return poisson_nll(k, log_mean) if zero_logit is None else zip_nll(k, log_mean, zero_logit)


class ZeroInflatedNegativeBinomial(CountLikelihood):
    """One learned dispersion per sample (targets first, then controls)."""

    name = "nb"
    zero_inflated = True

    def _bound(self) -> None:
        super()._bound()
        self.log_size = nn.Parameter(torch.zeros(self.spec.n_targets + self.spec.n_controls))

    def nll(self, k, log_mean, zero_logit, sample):
        log_size = self.log_size[sample].expand_as(log_mean)
        return (
            -nb_log_prob(k, log_mean, log_size) if zero_logit is None else zinb_nll(k, log_mean, log_size, zero_logit)
        )


class NegativeBinomial(ZeroInflatedNegativeBinomial):
    """Over-dispersed reads without zero inflation: one learned dispersion per sample."""

    name = "negative_binomial"
    zero_inflated = False
