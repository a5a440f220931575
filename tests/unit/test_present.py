"""The command line's presentation: kubectl's ages, and tables that fit the terminal."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightship import present

NOW = datetime(2026, 11, 29, 20, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("elapsed", "shown"),
    [
        (timedelta(seconds=-5), "<invalid>"),
        (timedelta(seconds=0), "0s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=2), "2m"),
        (timedelta(minutes=3, seconds=20), "3m20s"),
        (timedelta(minutes=10, seconds=30), "10m"),
        (timedelta(minutes=179), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=7, minutes=59), "7h59m"),
        (timedelta(hours=8, minutes=30), "8h"),
        (timedelta(hours=47), "47h"),
        (timedelta(days=2), "2d"),
        (timedelta(days=7, hours=23), "7d23h"),
        (timedelta(days=8, hours=5), "8d"),
        (timedelta(days=729), "729d"),
        (timedelta(days=800), "2y70d"),
        (timedelta(days=365 * 9), "9y"),
    ],
)
def test_ages_read_as_kubectl_prints_them(elapsed: timedelta, shown: str) -> None:
    assert present.human_duration(elapsed) == shown


def test_age_of_an_api_timestamp() -> None:
    assert present.age("2026-11-29T19:55:00Z", NOW) == "5m"
    assert present.age(None, NOW) == "-"


VERSIONS = [
    {
        "version": 3,
        "state": "Failed",
        "createdAt": "2026-11-29T19:57:00Z",
        "reason": "ImagePullBackOff",
        "message": 'container web: Back-off pulling image "reg.example/shop:3": not found '
        "in the registry, and again, and again",
    },
    {
        "version": 2,
        "state": "Active",
        "createdAt": "2026-11-27T20:00:00Z",
        "activatedAt": "2026-11-27T20:00:05Z",
    },
]


def test_a_table_fits_80_columns_and_cuts_only_the_last_column() -> None:
    rows = present.version_rows(VERSIONS, NOW, wide=False)
    text = present.table(present.VERSION_COLUMNS, rows, 80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].split() == ["VERSION", "STATE", "AGE", "REASON", "MESSAGE"]
    assert lines[1].split()[:4] == ["3", "Failed", "3m", "ImagePullBackOff"]
    assert lines[1].endswith("…")
    assert lines[2].split() == ["2", "Active", "2d"]


def test_wide_shows_timestamps_and_the_whole_message() -> None:
    rows = present.version_rows(VERSIONS, NOW, wide=True)
    text = present.table(present.WIDE_VERSION_COLUMNS, rows, None)
    assert VERSIONS[0]["message"] in text
    assert "2026-11-27T20:00:05Z" in text
    assert "…" not in text


@given(
    st.lists(
        st.tuples(st.text("ab c", max_size=12), st.text("xyz …", max_size=200)),
        min_size=1,
        max_size=5,
    ),
    st.integers(min_value=20, max_value=200),
)
def test_no_line_is_longer_than_the_width(rows: list[tuple[str, str]], width: int) -> None:
    text = present.table(("KEY", "VALUE"), rows, width)
    assert all(len(line) <= width for line in text.splitlines())


def test_status_rows_show_ages_and_conditions() -> None:
    obj = {
        "metadata": {"name": "shop", "namespace": "default"},
        "status": {
            "state": "Running",
            "currentDeployment": VERSIONS[1],
            "conditions": [{"type": "Ready", "status": "True", "reason": "Serving"}],
        },
    }
    rows = dict(present.status_rows(obj, NOW))
    assert rows["Service"] == "default/shop"
    assert rows["Active"] == "version 2 (Active, created 2d ago, active for 47h)"
    assert rows["Activating"] == "-"
    assert rows["Ready"] == "True (Serving)"
