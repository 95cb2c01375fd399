"""A ranking term, added to any training loss with ``model.rank_weight`` (DEL-Ranking's idea: a
likelihood of the reads says how many, a ranking term says which compound above which).

RankNet's pairwise logistic loss over the compounds of a batch, per target: for every pair the
observed order ranks i above j (both known), softplus(−(s_i − s_j)) of the predicted scores. It
reads only the order of the observed values, so any increasing transform of them gives the same
loss; the pairs of a batch of B compounds are B(B − 1)/2 per target (256 → 32,640). Its memory
grows as B², so a batch of more than ``MOST`` compounds is ranked on ``MOST`` of them, drawn at
random each step (1,024: about a million pairs per target, 12 MB a tensor for three targets).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MOST = 1024


def pairwise_logistic(
    scores: torch.Tensor, observed: torch.Tensor, known: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed loss over ordered pairs, their count); ``scores`` [B, T] predicted (any monotone
    scale: logits or log enrichment), ``observed`` [B, T] (enrichment scores, or 0/1 labels: then
    every binder above every non-binder), ``known`` [B, T] bool."""
    if len(scores) > MOST:
        pick = torch.randperm(len(scores), device=scores.device)[:MOST]
        scores, observed, known = scores[pick], observed[pick], known[pick]
    scores, observed = scores.float(), observed.float()
    above = observed[:, None, :] > observed[None, :, :]  # [B, B, T]: i observed above j
    pairs = above & known[:, None, :] & known[None, :, :]
    loss = F.softplus(scores[None, :, :] - scores[:, None, :])  # −log σ(s_i − s_j)
    weight = pairs.to(loss.dtype)
    return (loss * weight).sum(), weight.sum()
