"""The successCodes grammar: one table, hack/prober/testdata/success-codes.json, holds the API and
the prober (whose Go tests read it too, with the codes each string counts as healthy) to the same
strings. tests/integration/test_api_server.py runs it against the API server's CEL rule."""

import pytest
from pydantic import ValidationError

from lightship.api import HealthCheck
from tests.cases import (
    INVALID_SPECS,
    INVALID_SUCCESS_CODES,
    SUCCESS_CODES_TABLE,
    VALID_SPECS,
    VALID_SUCCESS_CODES,
    Case,
)


@pytest.mark.parametrize("codes", VALID_SUCCESS_CODES)
def test_the_api_accepts_what_the_prober_accepts(codes: str) -> None:
    assert HealthCheck.model_validate({"successCodes": codes}).success_codes == codes


@pytest.mark.parametrize("codes", INVALID_SUCCESS_CODES)
def test_the_api_refuses_what_the_prober_refuses(codes: str) -> None:
    with pytest.raises(ValidationError):
        HealthCheck.model_validate({"successCodes": codes})


def _codes_of(cases: list[Case]) -> set[str]:
    return {
        case.spec["publicEndpoint"]["healthCheck"]["successCodes"]
        for case in cases
        if case.id.startswith("success-codes-")
    }


def test_the_table_holds_every_success_codes_case_of_the_api() -> None:
    assert _codes_of(VALID_SPECS) <= set(VALID_SUCCESS_CODES)
    assert _codes_of(INVALID_SPECS) <= set(INVALID_SUCCESS_CODES)


def test_each_valid_row_says_what_counts_both_ways() -> None:
    for row in SUCCESS_CODES_TABLE["valid"]:
        assert row["healthy"] and row["unhealthy"], row["codes"]
        assert not set(row["healthy"]) & set(row["unhealthy"]), row["codes"]


def test_kubectl_explain_says_which_mode_counts_which_codes() -> None:
    description = " ".join((HealthCheck.model_fields["success_codes"].description or "").split())
    assert "LIGHTSHIP_HEALTH_CHECK=exact" in description
    assert "LIGHTSHIP_HEALTH_CHECK=kubelet" in description and "200..399" in description
