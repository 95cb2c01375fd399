"""Molecules as token ids: the character codes of the prepared data (``characters``), atom tokens
(``atoms``), Hugging Face / BPE tokenizers (``huggingface``), their cached ids beside the prepared
data (``cache``), ``spec`` (the tokenizer config entry and the one ``TokenSpec`` a trained model
reads, used by training, pretraining, screening and export) and ``encoders`` (any SMILES → a
model's ids, row by row). Imports ``core`` only.
"""
