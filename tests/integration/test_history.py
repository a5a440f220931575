"""A service's history is exact: one version number per spec generation, decided from what the
API server has; children of another owner (an earlier object of the same name) never taken for
the service's own; revisions a metadata update (a label, the garbage collector) can change; a
stored version the models refuse reported, never blocking the rest."""

from __future__ import annotations

import json
from typing import Any

from lightship import render
from lightship.api import ContainerServiceSpec
from tests.integration.checks import recreated_after_an_orphaning_delete
from tests.integration.support import (
    Cluster,
    Operator,
    Services,
    events,
    shop,
    states,
    wait_for,
)


def test_a_revision_takes_a_label_and_a_service_can_be_orphan_deleted(
    cluster: Cluster, services: Services
) -> None:
    """Both are metadata updates of the revision; the API server refuses them when the stored
    `data` does not read back as it was stored."""
    ns = services.namespace
    services.apply("shop", shop())
    services.wait_active("shop", 1)
    cluster.kubectl("label", "controllerrevision", "shop-v1", "-n", ns, "checked=yes")
    assert services.revision_owners("shop") == {
        "shop-v1": [services.get("shop")["metadata"]["uid"]]
    }
    cluster.kubectl("delete", "csd", "shop", "-n", ns, "--cascade=orphan", "--timeout=60s")
    # Orphaned: the revision stays, without its owner, as the user asked.
    assert services.revision_owners("shop") == {"shop-v1": []}


def test_recreated_right_after_an_orphaning_delete_gets_version_1(
    cluster: Cluster, services: Services
) -> None:
    recreated_after_an_orphaning_delete(cluster, services, "shop")


def test_a_revision_the_watches_never_showed_is_not_made_again_under_another_number(
    cluster: Cluster, services: Services, operator: Operator
) -> None:
    """A run made version 2 of generation 2 and wrote its status, and the revision watch has not
    shown the revision yet (after an API server restart it relists last): the next run takes
    that version, never makes version 3 of the same generation. The revision here carries no
    managed-by label, so the operator's watch never shows it: a lag without end."""
    ns = services.namespace
    services.apply("shop", shop("nginx:1.26"))
    services.wait_active("shop", 1)
    obj = services.get("shop")
    uid = obj["metadata"]["uid"]
    operator.stop()
    try:
        services.apply("shop", shop("nginx:1.27"))
        generation = services.get("shop")["metadata"]["generation"]
        assert generation == 2
        made = render.render_revision(
            "shop", uid, ContainerServiceSpec.model_validate(shop("nginx:1.27")), 2, 2
        )
        del made["metadata"]["labels"][render.MANAGED_BY_LABEL]
        cluster.kubectl("create", "-n", ns, "-f", "-", stdin=json.dumps(made))
        status = services.status("shop")
        versions = [
            {"version": 2, "state": "Activating", "createdAt": status["versions"][0]["createdAt"]},
            *status["versions"],
        ]
        patch = {"status": {"observedGeneration": 2, "state": "Deploying", "versions": versions}}
        cluster.kubectl(
            "patch", "csd", "shop", "-n", ns, "--subresource=status", "--type=merge",
            "-p", json.dumps(patch),
        )  # fmt: skip
    finally:
        operator.start()
    status = services.wait_active("shop", 2, timeout=90)
    assert states(status) == {2: "Active", 1: "Inactive"}
    assert sorted(services.revision_owners("shop")) == ["shop-v1", "shop-v2"]
    assert not [m for _, r, m in events(services, "shop") if "version 3" in m]


def test_a_stored_version_the_models_refuse_is_reported_and_the_rest_works(
    cluster: Cluster, services: Services
) -> None:
    """A revision stored under looser rules (here: one the API server takes without checks)
    is reported on the object, and the service still rolls out."""
    ns = services.namespace
    services.apply("shop", shop("nginx:1.26"))
    services.wait_active("shop", 1)
    uid = services.get("shop")["metadata"]["uid"]
    old: dict[str, Any] = render.render_revision(
        "shop", uid, ContainerServiceSpec.model_validate(shop()), 7, 0
    )
    old["data"]["containers"][0]["ports"][0]["port"] = 100000
    cluster.kubectl("create", "-n", ns, "-f", "-", stdin=json.dumps(old))
    services.apply("shop", shop("nginx:1.27"))
    status = services.wait_active("shop", 8)
    condition = next(c for c in status["conditions"] if c["type"] == "HistoryUnreadable")
    assert (condition["status"], condition["reason"]) == ("True", "UnreadableVersion")
    assert "version 7" in condition["message"] and "ports[0].port" in condition["message"]
    wait_for(
        lambda: (
            ("Warning", "UnreadableVersion") in {(t, r) for t, r, _ in events(services, "shop")}
        ),
        "the UnreadableVersion event",
        timeout=30,
    )
    assert states(status) == {8: "Active", 7: "Inactive", 1: "Inactive"}
