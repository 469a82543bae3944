"""Requests a planner can get wrong are refused naming the field and the rule (issue 16).

Numeric strata, client mistakes, strata that outnumber the size (with the smallest size that
works), and absurd values refused by the request model itself.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from features.errors import InputError
from serving.sampling import SampleRequest, draw_sample


@pytest.mark.parametrize("column", ["age", "officer_caseload", "months_supervised"])
def test_numeric_strata_are_refused_with_a_hint_to_band_them(column) -> None:
    for field in ("strata", "balance"):
        with pytest.raises(ValidationError) as caught:
            SampleRequest(size=60, **{field: [column]})
        assert caught.value.errors()[0]["loc"] == (field,)
        assert "band it" in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "seed", "column", "words"),
    [
        (
            {"size": 60, "strata": ["region", "gender"], "minimums": {"gender=female": 55}},
            1,
            "minimums",
            "smallest feasible size is 61",
        ),
        ({"size": 60, "minimums": {"rosh_level=very_high": 50}}, 1, "minimums", "holds only 40"),
        ({"size": 60}, -1, "seed", "from 0"),
        (
            {"size": 60, "officer_cap": 1, "method": "systematic"},
            1,
            "officer_cap",
            "officer cap of 2",
        ),
        ({"size": 1500, "strata": ["gender"]}, 1, "size", "officer × stratum"),
        ({"size": 10, "strata": ["office", "gender"]}, 1, "size", "smallest feasible size is 12"),
    ],
)
def test_client_mistakes_are_refused_naming_the_field(local, fields, seed, column, words) -> None:
    frame, scores = local
    with pytest.raises(InputError) as caught:
        draw_sample(frame, scores, SampleRequest(**fields), seed=seed)
    assert caught.value.column == column
    assert words in str(caught.value)


def test_strata_outnumbering_the_size_offer_the_smallest_size_and_coarser_strata(
    national,
) -> None:
    frame, scores = national
    with pytest.raises(InputError) as caught:
        draw_sample(frame, scores, SampleRequest(size=120), seed=1)
    message = str(caught.value)
    assert "smallest feasible size is 128" in message
    assert "strata region × gender (14 strata) fit" in message
    sample = draw_sample(frame, scores, SampleRequest(size=120, strata=["region", "gender"]), 1)
    assert len(sample.cases) == 120


@pytest.mark.parametrize(
    "fields",
    [
        {"size": 60, "officer_cap": 10**30},
        {"size": 60, "officer_cap": 1e30},
        {"size": 10**9},
        {"size": 60, "minimums": {f"office=Office {i}": 1 for i in range(60)}},
        {"size": 60, "minimums": {"gender=female": -1}},
        {"size": 60, "minimums": {"gender=female": 61}},
        {"size": 60, "strata": ["office", "gender", "region", "iom", "ethnicity", "iom", "x"]},
    ],
)
def test_absurd_requests_are_refused_by_the_request_model(fields) -> None:
    with pytest.raises(ValidationError) as caught:
        SampleRequest(**fields)
    assert caught.value.errors()[0]["loc"][0] in fields
    if fields.get("minimums") == {"gender=female": 61}:
        assert "smallest feasible size is 61" in str(caught.value)
