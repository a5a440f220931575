"""A ControllerRevision is sent so that the API server stores its `data` in the one spelling its
own updates produce (the round trip itself is tested on the cluster: test_history.py)."""

from __future__ import annotations

import yaml

from lightship.cluster import stored_exactly


def test_the_body_reads_back_as_the_same_object_in_yaml() -> None:
    revision = {
        "kind": "ControllerRevision",
        "data": {
            "env": 'caf\u00e9 \u2028 \x85 \x7f \U0001f600 <&> "quoted" \\ back',
            "n": 8080,
        },
    }
    body = stored_exactly(revision)
    assert body.isascii()
    assert yaml.safe_load(body) == revision
