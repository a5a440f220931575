"""Which service serves a custom domain: the one serving it keeps it, else the oldest object,
then namespace/name; every other claimant waits (domains.py). A table of situations."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lightship import claims
from lightship.api import DomainNames
from lightship.domains import Claim, claim_of, served, taken

OLD, NEW = "2026-11-01T10:00:00Z", "2026-11-20T10:00:00Z"
SHOP = ("a", "shop")


def claim(namespace: str, created: str, *domains: str, serving: tuple[str, ...] = ()) -> Claim:
    return Claim((namespace, "shop"), created, frozenset(domains), frozenset(serving))


TAKEN: list[tuple[str, Claim, list[Claim], dict[str, tuple[str, str]]]] = [
    ("no other claimant: every domain is the service's", claim("a", NEW, "x.test"), [], {}),
    (
        "another service serves it: it keeps it, although this one is older",
        claim("a", OLD, "x.test", "y.test"),
        [claim("b", NEW, "x.test", serving=("x.test",))],
        {"x.test": ("b", "shop")},
    ),
    (
        "this one serves it: it keeps it against an older claimant",
        claim("a", NEW, "x.test", serving=("x.test",)),
        [claim("b", OLD, "x.test")],
        {},
    ),
    (
        "nobody serves it yet: the older object gets it",
        claim("b", NEW, "x.test"),
        [claim("a", OLD, "x.test")],
        {"x.test": ("a", "shop")},
    ),
    (
        "nobody serves it, created in the same second: the first by namespace/name",
        claim("b", OLD, "x.test"),
        [claim("a", OLD, "x.test")],
        {"x.test": ("a", "shop")},
    ),
    (
        "both say they serve it (two writers raced): the older object keeps it",
        claim("a", NEW, "x.test", serving=("x.test",)),
        [claim("b", OLD, "x.test", serving=("x.test",))],
        {"x.test": ("b", "shop")},
    ),
    (
        "the holder no longer claims it (it left its spec, the status lags): it is free",
        claim("a", NEW, "x.test"),
        [claim("b", OLD, serving=("x.test",))],
        {},
    ),
    (
        "its own entry in the index is not a rival",
        claim("a", NEW, "x.test"),
        [claim("a", NEW, "x.test")],
        {},
    ),
]


@pytest.mark.parametrize(("case", "own", "others", "expected"), TAKEN, ids=[c[0] for c in TAKEN])
def test_taken(
    case: str, own: Claim, others: list[Claim], expected: dict[str, tuple[str, str]]
) -> None:
    assert taken(own, others) == expected


def test_claim_of_reads_the_spec_and_the_status() -> None:
    body: dict[str, Any] = {
        "metadata": {"namespace": "a", "name": "shop", "creationTimestamp": OLD},
        "spec": {"publicDomainNames": [{"certificate": "c", "domains": ["x.test", "y.test"]}]},
        "status": {"domains": ["x.test"]},
    }
    assert claim_of(body) == Claim(
        SHOP, OLD, frozenset({"x.test", "y.test"}), frozenset({"x.test"})
    )
    assert claim_of({"metadata": {"namespace": "a", "name": "shop"}, "spec": {}}) is None


def test_served_keeps_each_certificate_with_the_domains_left() -> None:
    entries = [
        DomainNames(certificate="one", domains=["x.test", "y.test"]),
        DomainNames(certificate="two", domains=["z.test"]),
    ]
    assert served(entries, {"y.test": ("b", "shop"), "z.test": ("b", "shop")}) == [
        DomainNames(certificate="one", domains=["x.test"])
    ]


def body(namespace: str, created: str, *domains: str, serving: tuple[str, ...] = ()) -> Any:
    return {
        "metadata": {"namespace": namespace, "name": "shop", "creationTimestamp": created},
        "spec": {"publicDomainNames": [{"certificate": "c", "domains": list(domains)}]},
        "status": {"domains": list(serving)},
    }


def test_the_index_tells_the_rivals_to_look_again_and_who_holds_a_domain() -> None:
    bodies = [body("a", OLD, "x.test", serving=("x.test",)), body("b", NEW, "x.test", "y.test")]
    index: dict[str, list[Claim]] = {}
    for manifest in bodies:
        for domain, found in asyncio.run(claims.index(manifest)).items():
            index.setdefault(domain, []).append(found)
    known = claims.DomainClaims()
    known.use({claims.INDEX: index})
    assert known.taken(bodies[1]) == {"x.test": ("a", "shop")}
    assert known.taken(bodies[0]) == {}
    # a drops x.test: b, which waits for it, is looked at again, and gets it.
    assert known.rivals(body("a", OLD, serving=("x.test",))) == {("b", "shop")}
    assert known.rivals(body("c", NEW, "z.test")) == set()
