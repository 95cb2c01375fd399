"""What a run learns from, decided once from a prepared library's manifest: binary labels
(Kaggle-format rows), or a DEL selection's read counts with their layout (a count table).

Every other module asks :func:`of` for a :class:`Supervision` and then asks it — which arrays a
batch carries, whether validation also ranks observed scores, what a library's observed value
is, what synthon tables sum, what a tree baseline fits — instead of probing files, batch keys,
column names or loss names. What a run *predicts* (a loss's or tree's readout) has one
vocabulary, :class:`Values`.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from belka_lab.core.errors import InputError
from belka_lab.dataset.count_spec import CountSpec


class Values(StrEnum):
    """What a run's predicted values are — the string written into ``predict.json``,
    ``model.json`` and ``analysis.json``: a probability of binding, or log10 enrichment."""

    PROBABILITY = "probability"
    LOG10_ENRICHMENT = "log10 enrichment"

    @classmethod
    def of(cls, probability: bool) -> Values:
        return cls.PROBABILITY if probability else cls.LOG10_ENRICHMENT

    @property
    def checks(self) -> str:
        """How ``belka analyze`` judges such predictions: probabilities are calibrated against the
        labels, enrichment gets conformal intervals of the observed score."""
        return "calibration" if self is Values.PROBABILITY else "intervals"


class Supervision:
    """Binary labels: ``train/labels.npy`` int8 [N, T], 1 binds, 0 not, -1 unknown."""

    spec: CountSpec | None = None
    arrays: tuple[str, ...] = ("labels",)  # besides the tokens, what a training batch carries
    ranked = False  # validation ranks observed scores as well as scoring the labels' AP
    submission = True  # the test part is Kaggle-format rows: a run writes BELKA's submission.csv
    observed_unit = "binds (1/0)"

    def lacks_heldout(self, manifest: dict) -> bool:
        """Whether the library has no held-out compounds to score a run on (said in the results)."""
        return False

    def observed(self, store, rows=None) -> np.ndarray | None:
        """The observed scores of molecule ``rows`` (all of them, memory-mapped, when None)."""
        return None

    @property
    def observed_values(self) -> str:
        """What a library's own values are, said where no run predicts."""
        return "observed hits"

    def references(self, targets) -> dict[str, str]:
        """What each target's reads are compared with (its control, the load, an even share)."""
        return {}

    def controlled(self, t: int) -> bool:
        """Whether target ``t``'s reads have a no-target control (to compare a compound's with)."""
        return False

    def lacks_control(self, target: str) -> str:
        """Why ``target`` has no control reads, and what to do (the end of an error message)."""
        return "needs read counts (a count table's library); leave max_control null"

    def observed_columns(self, targets) -> list[str]:
        """The prediction files' columns of the observed scores (``score_<target>``)."""
        return []

    def synthon_sums(self, store) -> dict:
        """What synthon tables sum over a block's compounds: its hits."""
        return {"labels": store.train("labels"), "counts": None, "spec": None}

    def learnt(self, store, learn: str, rows: np.ndarray):
        """What a tree model learns of molecule ``rows`` (``baseline.learn``)."""
        if learn != "labels":
            raise InputError(
                f"baseline.learn={learn} needs a count table (data=counts or data=selection); this data has labels only"
            )
        return np.asarray(store.train("labels"))[rows]

    def require(self, what: str, needs: str, control: bool = False) -> None:
        """Fail before training when ``what`` learns from ``needs`` (``labels``, ``scores`` or
        ``counts``) and this data has none (or, with ``control``, has a target without a control)."""
        if needs != "labels":
            raise InputError(
                f"{what} learns from a count table's {needs}, and this data has none: prepare a count table "
                f"(data=counts or data=selection), or use loss=bce"
            )


class ReadCounts(Supervision):
    """A count table: ``train/counts.npy`` int32 [N, S] (every replicate of every target and
    control, and the load), ``train/scores.npy`` float32 [N, T] (the configured enrichment score)
    and the labels its hits make; ``spec`` says which column is what."""

    arrays = ("labels", "scores", "counts")
    ranked = True
    submission = False

    def __init__(self, spec: CountSpec, score: str):
        self.spec, self.score = spec, score

    @property
    def observed_unit(self) -> str:
        """What the stored scores are (what count runs regress on)."""
        return "normalized z-score" if self.score == "normalized_z" else str(Values.LOG10_ENRICHMENT)

    def lacks_heldout(self, manifest: dict) -> bool:
        """No held-out affinity file was given (the test part is empty)."""
        return not manifest.get("test", {}).get("has_affinity")

    @property
    def observed_values(self) -> str:
        return f"observed {self.observed_unit}"

    def references(self, targets) -> dict[str, str]:
        return {t: self.spec.reference(i) for i, t in enumerate(targets)}

    def controlled(self, t: int) -> bool:
        return self.spec.control_of[t] is not None

    def lacks_control(self, target: str) -> str:
        return (
            f"needs a no-target control, and the count table names none for target {target}; leave "
            f"hits.max_control null (or prepare the table with its control: data.prepare.counts.controls)"
        )

    def observed(self, store, rows=None) -> np.ndarray:
        scores = store.train("scores")
        return scores if rows is None else np.asarray(scores[np.asarray(rows)])

    def observed_columns(self, targets) -> list[str]:
        return [f"score_{t}" for t in targets]

    def synthon_sums(self, store) -> dict:
        """The summed target and control reads (and the del_qsar ratio of the sums)."""
        return {"labels": None, "counts": store.train("counts"), "spec": self.spec}

    def learnt(self, store, learn: str, rows: np.ndarray):
        """``labels`` [n, T]; ``scores`` [n, T]; or ``counts``: (summed target reads [n, T], the log
        of the reads at enrichment 1 — ``CountSpec.null_reads`` with ½ added — [n, T])."""
        if learn in ("labels", "scores"):
            return np.asarray(store.train(learn))[rows]
        spec = self.spec
        counts = np.asarray(store.train("counts")[rows], np.float64)
        reads, offset = np.empty((len(rows), spec.n_targets)), np.empty((len(rows), spec.n_targets))
        for t, cols in enumerate(spec.target_cols):
            reads[:, t] = counts[:, cols].sum(axis=1)
            offset[:, t] = np.log(spec.null_reads(counts, t, pseudo=0.5))
        return reads, offset

    def require(self, what: str, needs: str, control: bool = False) -> None:
        lacking = [t for t, c in zip(self.spec.target_names, self.spec.control_of) if c is None]
        if control and lacking:
            verb = "has" if len(lacking) == 1 else "have"
            raise InputError(
                f"{what} compares target reads with a no-target control, and {', '.join(lacking)} {verb} none in "
                f"this count table: use a count likelihood (loss=poisson, zip, …: the target term alone, with load "
                f"and depth offsets) or mse"
            )


def of(manifest: dict) -> Supervision:
    """What a prepared library's runs learn from: the one place that reads it off the manifest."""
    table = manifest.get("count_table")
    if table is None:
        return Supervision()
    return ReadCounts(CountSpec.of(manifest), table.get("score"))


def current(manifest: dict) -> bool:
    """Whether a prepared directory is this belka_lab's for what its runs learn from: a count table
    prepared by 0.10, whose test part named no building blocks, is prepared again."""
    return manifest.get("count_table") is None or bool(manifest.get("test_blocks"))
