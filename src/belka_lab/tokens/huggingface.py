"""Hugging Face tokenizers: a saved one loaded (a local directory, or a hub id where the hub is
reachable), or a byte-pair-encoding one trained on SMILES and saved with ``save_pretrained``."""

from __future__ import annotations

from pathlib import Path

from belka_lab.core.errors import InputError
from belka_lab.core.io import staged

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's order: ids 0..4


def load_tokenizer(path: str):
    """AutoTokenizer from a directory or hub id, or one clear error saying how to provide it."""
    from transformers import AutoTokenizer  # heavy

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise InputError(
            f"tokenizer {path!r}: not a local directory with a saved tokenizer and not reachable on the Hugging Face "
            f"hub ({type(e).__name__}). "
            f"On a machine with internet, save it (`AutoTokenizer.from_pretrained({path!r}).save_pretrained(DIR)`, or "
            f"`hf download {path} --local-dir DIR`) "
            "and point tokenizer.path (and model.backbone.pretrained) at DIR; or use tokenizer=bpe to train one on the "
            "data."
        ) from e


def train_bpe(smiles: list[str], out_dir: Path, vocab_size: int = 512, max_length: int = 144):
    """Train a BPE tokenizer on SMILES (merges over raw characters), save it with save_pretrained."""
    from tokenizers import Tokenizer, decoders, models, processors, trainers  # heavy
    from transformers import PreTrainedTokenizerFast  # heavy

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tok.train_from_iterator(smiles, trainer, length=len(smiles))
    tok.decoder = decoders.Fuse()  # tokens join without spaces: decode gives the SMILES back
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=max_length,
        clean_up_tokenization_spaces=False,
    )
    out_dir = Path(out_dir)
    with staged(out_dir) as stage:
        fast.save_pretrained(stage.path)
        stage.discard = out_dir.exists()  # another process finished first
    return load_tokenizer(str(out_dir))
