"""The ContainerServiceDeployment CRD, generated from the pydantic models of lightship.api.

The models' JSON schema becomes a structural OpenAPI schema: references inlined, `anyOf` with
null collapsed to the one real type, titles and `additionalProperties: false` dropped (the
structural schema prunes unknown fields, or rejects them under strict field validation).
Defaults, bounds, patterns, list-map keys and CEL rules come through from the models as they are.
"""

from typing import Any

import yaml
from pydantic import BaseModel

from lightship import GROUP, KIND, PLURAL, VERSION
from lightship.api import (
    MAX_SERVICE_NAME_LENGTH,
    SERVICE_NAME_PATTERN,
    SERVICE_NAME_RULE,
    ContainerServiceSpec,
    ContainerServiceStatus,
)

SINGULAR = KIND.lower()
SHORT_NAME = "csd"
FILE = f"crds/{GROUP}_{PLURAL}.yaml"

Schema = dict[str, Any]


class _Expression(str):
    """A CEL expression: written to YAML verbatim, as a literal block."""


def openapi_schema(model: type[BaseModel]) -> Schema:
    """The structural OpenAPI v3 schema of `model`, in its wire (camelCase) form."""
    schema = model.model_json_schema(by_alias=True)
    return _structural(schema, schema.get("$defs", {}))


def _structural(schema: Schema, definitions: Schema) -> Schema:
    if "anyOf" in schema:
        (value_type,) = [option for option in schema["anyOf"] if option != {"type": "null"}]
        schema = {**value_type, **_without(schema, "anyOf")}
    if "$ref" in schema:
        # Keys beside the reference (the field's description and default) win over the type's.
        referenced = definitions[schema["$ref"].removeprefix("#/$defs/")]
        schema = {**referenced, **_without(schema, "$ref")}
    structural: Schema = {}
    for key, value in schema.items():
        if key == "properties":
            structural[key] = {name: _structural(s, definitions) for name, s in value.items()}
        elif key == "items":
            structural[key] = _structural(value, definitions)
        elif key == "x-kubernetes-validations":
            structural[key] = _expressions(value)
        elif key in ("title", "$defs") or (key == "additionalProperties" and value is False):
            continue
        elif key == "default" and value is None:
            continue  # an optional field is absent, never null
        else:
            structural[key] = value
    return structural


def _without(schema: Schema, key: str) -> Schema:
    return {k: v for k, v in schema.items() if k != key}


def _expressions(validations: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {
            key: _Expression(text) if key in ("rule", "messageExpression") else text
            for key, text in validation.items()
        }
        for validation in validations
    ]


# The name becomes the name of a Service and an Ingress: a DNS-1035 label. Only a rule at the
# root of the schema can see metadata.name.
_SERVICE_NAME_VALIDATION = {
    "rule": f"size(self.metadata.name) <= {MAX_SERVICE_NAME_LENGTH}"
    f" && self.metadata.name.matches('{SERVICE_NAME_PATTERN}')",
    "messageExpression": f"'\"' + self.metadata.name + '\" is not a valid service name: "
    f"{SERVICE_NAME_RULE}'",
    "fieldPath": ".metadata.name",
}

_PRINTER_COLUMNS = [
    {"name": "State", "type": "string", "jsonPath": ".status.state"},
    {"name": "Active", "type": "integer", "jsonPath": ".status.currentDeployment.version"},
    {"name": "Next", "type": "integer", "jsonPath": ".status.nextDeployment.version"},
    {"name": "URL", "type": "string", "jsonPath": ".status.url"},
    {"name": "Scale", "type": "integer", "jsonPath": ".spec.scale", "priority": 1},
    {"name": "Power", "type": "string", "jsonPath": ".spec.power", "priority": 1},
    {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def custom_resource_definition() -> dict[str, Any]:
    """The CRD of ContainerServiceDeployment, as a Kubernetes object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": [SHORT_NAME],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": _root_schema()},
                    # /scale: kubectl scale and a HorizontalPodAutoscaler write spec.scale and
                    # read the active version's pods from the status.
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.scale",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": _PRINTER_COLUMNS,
                }
            ],
        },
    }


def _root_schema() -> Schema:
    """The schema of the whole object: its name rule, the spec and the status."""
    return {
        "type": "object",
        "description": "A container service: a deployment of up to ten containers, an optional "
        "public HTTPS endpoint, and a history of deployment versions.",
        "properties": {
            "apiVersion": {"type": "string", "description": f"{GROUP}/{VERSION}"},
            "kind": {"type": "string", "description": KIND},
            # name declared only so that the name rule's fieldPath can point at it
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {
                        "type": "string",
                        "description": f"The service name: {SERVICE_NAME_RULE}.",
                    }
                },
            },
            "spec": openapi_schema(ContainerServiceSpec),
            # A new object reads as not reconciled yet (observedGeneration 0 < generation) until
            # the operator writes its status: kstatus (Flux, kpt) would call an object with no
            # status at all Current.
            "status": {
                **openapi_schema(ContainerServiceStatus),
                "default": {"observedGeneration": 0},
            },
        },
        "required": ["spec"],
        "x-kubernetes-validations": _expressions([_SERVICE_NAME_VALIDATION]),
    }


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # repeat shared parts of the schema rather than write YAML anchors


def _represent_expression(dumper: yaml.SafeDumper, expression: _Expression) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", expression, style="|")


_Dumper.add_representer(_Expression, _represent_expression)

_HEADER = f"# {FILE}: generated by `lightship crd` from operator/lightship/api/. Do not edit.\n"


def crd_yaml() -> str:
    """The CRD as YAML: what `lightship crd` prints and crds/ holds."""
    return _HEADER + yaml.dump(custom_resource_definition(), Dumper=_Dumper, width=100)
