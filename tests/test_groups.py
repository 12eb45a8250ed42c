"""Group keys and the groupings reported, computed in one place (data/groups.py)."""

import pandas as pd
import pytest

from underspec.data.groups import group_labels, single_and_pairs
from underspec.errors import UnderspecError
from underspec.fairness.thresholds import group_keys
from underspec.mitigate.weights import group_codes


def test_group_labels_join_the_columns_and_every_user_agrees():
    table = pd.DataFrame({"sex": ["f", "m", "f"], "age": [1, 1, 2], "id": [0, 1, 2]})
    labels = group_labels(table, ["sex", "age"])
    assert labels.tolist() == ["f & 1", "m & 1", "f & 2"]
    assert group_keys(table, ["sex", "age"]).tolist() == labels.tolist()
    assert group_codes(table, ["sex", "age"]).tolist() == [0, 2, 1]  # sorted keys: f & 1, f & 2, m & 1
    with pytest.raises(UnderspecError, match="group column\\(s\\) race not in the data; columns are sex, age, id"):
        group_labels(table, ["race"])
    with pytest.raises(UnderspecError, match="race"):
        group_codes(table, ["race"])


def test_each_column_then_each_pair():
    assert single_and_pairs(["a", "b", "c"]) == [("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c")]
    assert single_and_pairs([]) == []
