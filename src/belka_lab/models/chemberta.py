"""ChemBERTa: a RoBERTa encoder (Hugging Face ``transformers``) with a 3-logit head.

``pretrained`` is a directory with saved weights or a hub id (e.g.
``DeepChem/ChemBERTa-77M-MLM``, where the hub is reachable); with ``pretrained=None`` the
encoder is built from ``config`` (RoBERTa settings), its vocabulary read from the saved
``tokenizer``. Either way the model reads token ids of its own tokenizer, cached by the data
module (``tokenizer=pretrained`` or ``tokenizer=bpe``), never characters.

``features`` exposes the per-token outputs for masked-token pretraining
(``python -m belka_lab pretrain model=chemberta``); ``layer_groups`` lists parameter groups
from the embeddings up, for layer-wise learning-rate decay (``BelkaModule.lr_decay``).
"""

from __future__ import annotations

import torch
from torch import nn

from belka_lab.core.errors import InputError
from belka_lab.models.layers import MLPHead, masked_mean
from belka_lab.tokens.huggingface import load_tokenizer


def _load_encoder(pretrained: str):
    from transformers import AutoModel  # heavy

    try:
        return AutoModel.from_pretrained(pretrained, add_pooling_layer=False)
    except (OSError, ValueError) as e:
        raise InputError(
            f"model.backbone.pretrained={pretrained!r}: not a local directory with saved weights and not reachable on "
            f"the Hugging Face hub "
            f"({type(e).__name__}). On a machine with internet run `hf download {pretrained} --local-dir DIR` (or "
            f"save_pretrained), copy DIR here "
            "and set model.backbone.pretrained=DIR data.tokenizer.path=DIR; or set model.backbone.pretrained=null to "
            "train from a RobertaConfig."
        ) from e


class ChemBERTa(nn.Module):
    reads = "tokenizer"  # its tokenizer's ids, not character codes (models/backbone.py)

    def __init__(
        self,
        pretrained: str | None = None,
        tokenizer: str | None = None,
        config: dict | None = None,
        pool: str = "cls",
        head_hidden: int = 0,
        n_outputs: int = 3,
        dropout: float = 0.1,
    ):
        super().__init__()
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be cls or mean (got {pool!r})")
        tokenizer = tokenizer or pretrained
        if tokenizer is None:
            raise InputError(
                "ChemBERTa needs model.backbone.tokenizer (a saved tokenizer directory) or model.backbone.pretrained"
            )
        tok = load_tokenizer(tokenizer)
        if pretrained:
            self.encoder = _load_encoder(pretrained)
        else:
            from transformers import RobertaConfig, RobertaModel  # heavy

            settings = dict(config or {})
            settings.setdefault("max_position_embeddings", 146)  # 144 tokens + RoBERTa's pad offset
            rc = RobertaConfig(
                vocab_size=len(tok),
                pad_token_id=tok.pad_token_id,
                bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id,
                **settings,
            )
            self.encoder = RobertaModel(rc, add_pooling_layer=False)
        cfg = self.encoder.config
        if len(tok) > cfg.vocab_size:
            raise InputError(
                f"tokenizer {tokenizer} has {len(tok)} tokens but the encoder embeds {cfg.vocab_size}; use the "
                f"pretrained "
                f"model's own tokenizer"
            )
        self.vocab_size, self.d_model, self.pool = cfg.vocab_size, cfg.hidden_size, pool
        self.mask_token_id, self.pad_token_id = tok.mask_token_id, tok.pad_token_id
        self.symbol_range = (
            len(tok.all_special_ids),
            len(tok) - 1,
        )  # random replacements in pretraining: no special tokens
        self.head = MLPHead(cfg.hidden_size, head_hidden, dropout, n_outputs=n_outputs)

    def features(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-token outputs [B, L, D], pooled [B, D]: the <s> token's output or the masked mean)."""
        h = self.encoder(input_ids=tokens, attention_mask=mask.long()).last_hidden_state
        return h, (h[:, 0] if self.pool == "cls" else masked_mean(h, mask, channels_last=True))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(tokens, mask)[1])

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from the input up: embeddings, each encoder layer, then the head."""
        enc = self.encoder
        groups = [list(enc.embeddings.parameters())]
        groups += [list(layer.parameters()) for layer in enc.encoder.layer]
        groups.append(list(self.head.parameters()))
        return groups
