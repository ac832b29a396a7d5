"""The id rule (``neural_heatmap_contract.ids``): the function, the pattern and the comma
list agree, so every valid id survives a round trip through ``model_ids=a,b``."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from neural_heatmap_contract.ids import BLANKS, ID_PATTERN, ID_RULE, id_problem
from neural_heatmap_contract.limits import MAX_ID_CHARS

# Text heavy in the characters the rule is about, plus anything else.
_TEXT = st.text(st.one_of(st.sampled_from([",", "/", *BLANKS, "\x85", "\u00a0", "a"]),
                          st.characters()), max_size=12)


@given(_TEXT)
def test_the_pattern_and_the_function_agree(value: str) -> None:
    assert (re.fullmatch(ID_PATTERN, value) is not None) == (id_problem(value, "id") is None)


@given(st.lists(_TEXT.filter(lambda v: id_problem(v, "id") is None), min_size=1, max_size=5))
def test_valid_ids_survive_a_comma_list(ids: list[str]) -> None:
    """What the server's ``opt_list`` does to ``model_ids=a,b``, written out."""
    joined = ",".join(ids)
    assert [p.strip(BLANKS) for p in joined.split(",") if p.strip(BLANKS)] == ids


@pytest.mark.parametrize(("value", "fault"), [
    ("p,q", "contains ','"), ("m/l", "contains '/'"), (" m", "begins or ends with a blank"),
    ("m\n", "begins or ends with a blank"), ("", "has 0 characters"),
    ("x" * (MAX_ID_CHARS + 1), f"has {MAX_ID_CHARS + 1} characters"), (7, "must be a string")])
def test_each_refusal_names_the_field_the_fault_and_the_rule(value: object, fault: str) -> None:
    assert id_problem(value, "model_id") == f"model_id {fault}: {ID_RULE}"


@pytest.mark.parametrize("value", ["m", "a b", "x" * MAX_ID_CHARS, "caf\u00e9\u00a0", "\x85m"])
def test_valid_ids(value: str) -> None:
    assert id_problem(value, "model_id") is None
