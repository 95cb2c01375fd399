import numpy as np
import pandas as pd
import pytest

from belka_lab.core.errors import InputError
from belka_lab.evaluation.submission import build, check
from helpers import write_submission

IDS = np.array([10, 11, 12, 13])


def test_valid_submission_passes(tmp_path):
    assert len(check(write_submission(tmp_path, IDS, [0.1, 0.2, 0.0, 1.0]), IDS)) == 4


@pytest.mark.parametrize(
    "ids, binds, match",
    [
        ([10, 11, 12], [0.1, 0.2, 0.3], "1 test ids are missing.*13"),
        ([10, 11, 12, 13, 13], [0.1] * 5, "1 ids appear more than once.*13"),
        ([10, 11, 12, 13, 99], [0.1] * 5, "1 ids are not in the test file.*99"),
        ([10, 11, 12, 13], [0.1, "nan", 0.2, 0.3], "not a probability.*11"),
        ([10, 11, 12, 13], [0.1, 0.2, 1.5, 0.3], "not a probability.*12"),
    ],
)
def test_validator_catches_bad_submissions(tmp_path, ids, binds, match):
    with pytest.raises(InputError, match=match):
        check(write_submission(tmp_path, ids, binds), IDS)


def test_wrong_header_is_reported(tmp_path):
    with pytest.raises(InputError, match="header"):
        check(write_submission(tmp_path, IDS, [0.1] * 4, header="id,prediction"))


def test_build_picks_each_rows_protein_column():
    rows = pd.DataFrame({"id": [5, 6, 7], "molecule": [1, 0, 1], "protein": [2, 0, 1]})
    probs = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    assert build(rows, probs)["binds"].tolist() == [0.6, 0.1, 0.5]
