"""What a run's predicted values are — one vocabulary for the results, ``belka predict``,
``belka export``, blends, baselines and ``belka analyze``: a probability of binding (labels
learnt), or log10 enrichment (a count table's scores or reads learnt). The value is the string
written into ``predict.json``, ``model.json`` and ``analysis.json``."""

from __future__ import annotations

from enum import StrEnum


class Values(StrEnum):
    PROBABILITY = "probability"
    LOG10_ENRICHMENT = "log10 enrichment"

    @classmethod
    def of(cls, probability: bool) -> Values:
        return cls.PROBABILITY if probability else cls.LOG10_ENRICHMENT
