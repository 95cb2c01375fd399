"""The synthetic library's settings (sizes, seed, positive rates, the strength of the hidden
rule's terms, the ``other_core`` rule)."""

from __future__ import annotations

from dataclasses import dataclass

from belka_lab.core.errors import InputError

DEFAULT_RATES = (0.0046, 0.0041, 0.0074)


@dataclass(frozen=True)
class SynthConfig:
    n_train: int = 200_000
    n_test: int = 30_000
    seed: int = 0
    n_bb1: int = 300
    n_amines: int = 700
    holdout_fraction: float = 0.2
    rates: tuple[float, float, float] = DEFAULT_RATES
    signal: float = 2.0
    block_effect: float = 1.0  # per-block effect not visible in structure: memorised on seen blocks only
    noise: float = 1.0
    chunk_molecules: int = 1_000_000
    other_core: str = "own_library"  # own_library (like kin0) | shared_blocks (0.3.0's rule)
    core_transfer: float = 0.5  # own_library: correlation of its motif weights with the triazine library's

    def __post_init__(self):
        if self.other_core not in OTHER_CORE_RULES:
            raise InputError(f"synth other_core={self.other_core!r}: choose one of {', '.join(OTHER_CORE_RULES)}")
        if not 0.0 <= self.core_transfer <= 1.0:
            raise InputError(f"synth core_transfer={self.core_transfer}: must be between 0 and 1")


OTHER_CORE_RULES = ("own_library", "shared_blocks")
