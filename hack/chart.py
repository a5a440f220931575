"""Generates the Helm chart (charts/lightship/) from the kustomize output of manifests/.

manifests/ stays the one source of the operator's objects: `make dist` renders it into
dist/install.yaml, and this script turns those objects into the chart's templates. What an
install chooses (image, replicas, resources, every LIGHTSHIP_* setting) becomes a value whose
default is what manifests/ says, so `helm template` with the defaults gives the objects of
install.yaml, in the release's namespace (hack/chart_values.py makes the values).

    python hack/chart.py dist/install.yaml charts/lightship
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from chart_values import (
    GENERATED,
    camel,
    chart_yaml,
    dump,
    manifest_settings,
    values_schema,
    values_yaml,
)

from lightship.settings import ENV_PREFIX

METRICS_PORT = '{{ include "lightship.metricsPort" . }}'
HELPERS = """\
{{/* GENERATED */}}
{{/* The port of LIGHTSHIP_METRICS_ADDRESS (host:port), for the container and the Service. */}}
{{- define "lightship.metricsPort" -}}
{{ .Values.settings.metricsAddress | splitList ":" | last }}
{{- end }}
""".replace("GENERATED", GENERATED)
NOTES = """\
Lightship {{ .Chart.AppVersion }} runs in the namespace {{ .Release.Namespace }}:
  kubectl get deployment lightship-operator -n {{ .Release.Namespace }}
  kubectl get containerservicedeployments --all-namespaces
The CRD is not removed by `helm uninstall` (that would delete every service); upgrade it with
  helm show crds <this chart> | kubectl apply --server-side -f -
"""
# Only one replica at a time may reconcile: the holder of the Lease.
REPLICAS_NEED_LEADER_ELECTION = (
    "{{- if and (gt (int .Values.replicas) 1) (not .Values.settings.leaderElection) }}\n"
    '{{- fail "replicas: more than 1 needs settings.leaderElection=true '
    '(only the holder of the Lease may reconcile)" }}\n'
    "{{- end }}\n"
)


class Template:
    """One object's YAML with template text in place of some values: a marker stands in for
    the text while the object is dumped, and is replaced after."""

    def __init__(self) -> None:
        self._inline: dict[str, str] = {}
        self._blocks: dict[str, Callable[[int], list[str]]] = {}

    def inline(self, text: str) -> str:
        """A scalar of the object becomes `text`."""
        marker = f"__template_{len(self._inline) + len(self._blocks)}__"
        self._inline[marker] = text
        return marker

    def block(self, lines: Callable[[int], list[str]]) -> str:
        """A key's value becomes the lines returned for the key's column (put under it,
        two columns in)."""
        marker = f"__template_{len(self._inline) + len(self._blocks)}__"
        self._blocks[marker] = lines
        return marker

    def render(self, obj: dict[str, Any]) -> str:
        out = []
        for line in dump(obj).splitlines():
            found = re.fullmatch(r"([ -]*)(\S+): (__template_\d+__)", line)
            if found and found[3] in self._blocks:
                lead, key, marker = found.groups()
                column = len(lead) + 2
                out.append(f"{lead}{key}:")
                out += [" " * column + text for text in self._blocks[marker](column)]
            else:
                out.append(line)
        text = "\n".join(out) + "\n"
        for marker, replacement in self._inline.items():
            text = text.replace(marker, replacement)
        return text


def env_lines(settings: dict[str, Any], others: list[dict[str, Any]]) -> list[str]:
    """The container's environment: each setting from its value (left out when empty, so the
    operator's default holds; a boolean is always given), then manifests/' other variables."""
    lines = []
    for name, default in settings.items():
        var, value = ENV_PREFIX + name.upper(), f".Values.settings.{camel(name)}"
        if isinstance(default, bool):
            lines += [f"- name: {var}", f"  value: {{{{ {value} | quote }}}}"]
            continue
        text = {dict: "toJson . | quote", list: 'join "," . | quote'}.get(
            type(default), ". | quote"
        )
        lines += [f"{{{{- with {value} }}}}", f"- name: {var}", f"  value: {{{{ {text} }}}}"]
        lines.append("{{- end }}")
    return lines + dump(others).splitlines()


def port_lines(ports: list[dict[str, Any]], metrics_port: int | None) -> list[str]:
    """The container's ports, the metrics port only while metrics are served."""
    lines = dump([p for p in ports if p["containerPort"] != metrics_port]).splitlines()
    for port in ports:
        if port["containerPort"] == metrics_port:
            port = {**port, "containerPort": "__port__"}
            text = dump([port]).replace("__port__", METRICS_PORT)
            lines += ["{{- if .Values.settings.metricsAddress }}", *text.splitlines(), "{{- end }}"]
    return lines


def metrics_port_of(settings: dict[str, Any]) -> int | None:
    address = settings["metrics_address"]
    return int(address.rpartition(":")[2]) if address else None


def deployment(obj: dict[str, Any], template: Template, settings: dict[str, Any]) -> None:
    obj["spec"]["replicas"] = template.inline("{{ .Values.replicas }}")
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    container["image"] = template.inline(
        '"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"'
    )
    container["resources"] = template.block(
        lambda column: [f"{{{{- toYaml .Values.resources | nindent {column} }}}}"]
    )
    others = [var for var in container["env"] if not var["name"].startswith(ENV_PREFIX)]
    container["env"] = template.block(lambda _: env_lines(settings, others))
    ports, metrics_port = container["ports"], metrics_port_of(settings)
    if metrics_port is not None and metrics_port not in {p["containerPort"] for p in ports}:
        raise SystemExit(f"manifests/deployment.yaml: no container port for metrics {metrics_port}")
    container["ports"] = template.block(lambda _: port_lines(ports, metrics_port))


def metrics_service(obj: dict[str, Any], template: Template, settings: dict[str, Any]) -> None:
    for port in obj["spec"]["ports"]:
        if port["port"] == metrics_port_of(settings):
            port["port"] = template.inline(METRICS_PORT)


def in_release_namespace(obj: Any, namespace: str, template: Template) -> Any:
    """Every `namespace: <the kustomize namespace>` becomes the release's."""
    if isinstance(obj, dict):
        return {
            key: template.inline("{{ .Release.Namespace }}")
            if key == "namespace" and value == namespace
            else in_release_namespace(value, namespace, template)
            for key, value in obj.items()
        }
    if isinstance(obj, list):
        return [in_release_namespace(item, namespace, template) for item in obj]
    return obj


def cluster_wide_per_release(obj: dict[str, Any], template: Template) -> None:
    """Cluster-wide RBAC is named after the release's namespace, so that operators installed
    in two namespaces (each watching its own LIGHTSHIP_NAMESPACES) do not share it."""
    per_release = template.inline(obj["metadata"]["name"] + "-{{ .Release.Namespace }}")
    obj["metadata"]["name"] = per_release
    if obj["kind"] == "ClusterRoleBinding":
        obj["roleRef"]["name"] = template.inline(
            obj["roleRef"]["name"] + "-{{ .Release.Namespace }}"
        )


# Objects that exist only when a value asks for them.
CONDITIONS = {
    "Role": ".Values.settings.leaderElection",
    "RoleBinding": ".Values.settings.leaderElection",
    "Service": ".Values.settings.metricsAddress",
}


def template_of(obj: dict[str, Any], namespace: str, settings: dict[str, Any]) -> str:
    template = Template()
    obj = in_release_namespace(obj, namespace, template)
    kind = obj["kind"]
    if kind == "Deployment":
        deployment(obj, template, settings)
    elif kind == "Service":
        metrics_service(obj, template, settings)
    elif kind in ("ClusterRole", "ClusterRoleBinding"):
        cluster_wide_per_release(obj, template)
    text = template.render(obj)
    if kind in CONDITIONS:
        text = f"{{{{- if {CONDITIONS[kind]} }}}}\n{text}{{{{- end }}}}\n"
    if kind == "Deployment":
        text = REPLICAS_NEED_LEADER_ELECTION + text
    return f"# {GENERATED}\n{text}"


def chart_files(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The chart's files by path, from the objects of install.yaml."""
    (namespace,) = (o["metadata"]["name"] for o in objects if o["kind"] == "Namespace")
    (deployment_obj,) = (o for o in objects if o["kind"] == "Deployment")
    (container,) = deployment_obj["spec"]["template"]["spec"]["containers"]
    settings = manifest_settings(container["env"])
    files = {
        "Chart.yaml": chart_yaml(container["image"].rpartition(":")[2]),
        "values.yaml": values_yaml(deployment_obj, settings),
        "values.schema.json": json.dumps(values_schema(settings), indent=2) + "\n",
        "templates/_helpers.tpl": HELPERS,
        "templates/NOTES.txt": NOTES,
    }
    for obj in objects:
        kind = obj["kind"]
        if kind == "CustomResourceDefinition":
            # crds/: helm creates a CRD that does not exist yet and never deletes it.
            files[f"crds/{obj['metadata']['name']}.yaml"] = f"# {GENERATED}\n" + dump(obj)
        elif kind != "Namespace":  # the release's: made beforehand, or --create-namespace
            path = f"templates/{kind.lower()}.yaml"
            if path in files:
                raise SystemExit(f"two objects of kind {kind}: name their templates apart")
            files[path] = template_of(obj, namespace, settings)
    return files


def main(install_yaml: str, chart_dir: str) -> None:
    objects = [o for o in yaml.safe_load_all(Path(install_yaml).read_text()) if o]
    files = chart_files(objects)
    out = Path(chart_dir)
    for old in sorted(out.rglob("*"), reverse=True) if out.exists() else []:
        # Everything in the chart is generated: a file no longer generated goes.
        if old.is_file() and old.relative_to(out).as_posix() not in files:
            old.unlink()
    for path, text in files.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python hack/chart.py dist/install.yaml charts/lightship")
    main(*sys.argv[1:])
