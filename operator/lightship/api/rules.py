"""How the models read and report the wire form: the base model, the schema extensions (CEL
rules, list maps) and the errors that name their field."""

import re
from collections.abc import Hashable, Iterable, Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict
from pydantic_core import InitErrorDetails, PydanticCustomError

from lightship.api.bounds import MAX_SERVICE_NAME_LENGTH, SERVICE_NAME_PATTERN, SERVICE_NAME_RULE


def list_map(*keys: str) -> JsonDict:
    """Schema extension: a list whose items are unique by `keys` (the API server checks it)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def cel(
    rule: str, *, message: str = "", message_expression: str = "", field_path: str = ""
) -> JsonDict:
    """Schema extension entry: a CEL rule, with the message (or the CEL expression that makes
    it) naming what is allowed. The API server prints the value of a scalar itself."""
    validation: JsonDict = {"rule": rule}
    if message:
        validation["message"] = message
    if message_expression:
        validation["messageExpression"] = message_expression
    if field_path:
        validation["fieldPath"] = field_path
    return validation


Loc = tuple[str | int, ...]


def invalid(message: str) -> PydanticCustomError:
    """The error of a rule, its message as is (a ValueError's would start "Value error, ")."""
    return PydanticCustomError("invalid", "{message}", {"message": message})


def violation(loc: Loc, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=invalid(message), loc=loc, input=value)


Key = TypeVar("Key", bound=Hashable)


def repeats(keys: Iterable[Key]) -> Iterator[tuple[int, Key]]:
    """Each key equal to an earlier one, with its index: what a list-map key or a set refuses."""
    seen: set[Key] = set()
    for index, key in enumerate(keys):
        if key in seen:
            yield index, key
        seen.add(key)


def in_field_order(violations: list[InitErrorDetails]) -> list[InitErrorDetails]:
    """The violations in the order of the fields they name (container 0's before container 1's,
    a field's before its items'), whichever rule found them."""
    return sorted(
        violations,
        key=lambda violation: tuple((isinstance(part, str), part) for part in violation["loc"]),
    )


def raise_violations(model: type[BaseModel], violations: list[InitErrorDetails]) -> None:
    # A ValidationError raised in a validator keeps its locations, prefixed with the location
    # of the model: cross-field errors then name the exact field, as the API server does.
    if violations:
        raise ValidationError.from_exception_data(model.__name__, violations)


def error_messages(error: ValidationError, root: str = "spec") -> list[str]:
    """One line per error, each naming its field: `spec.containers[1].ports[0].port: ...`."""
    lines = []
    for detail in error.errors():
        path = root + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"]
        )
        lines.append(f"{path}: {detail['msg']}")
    return lines


def validate_service_name(name: str) -> str:
    """Returns `name` if it can name a service (and so its Service and Ingress), else raises."""
    if len(name) > MAX_SERVICE_NAME_LENGTH or not re.fullmatch(SERVICE_NAME_PATTERN, name):
        raise ValueError(
            f'metadata.name: "{name}" is not a valid service name: {SERVICE_NAME_RULE}'
        )
    return name


class WireModel(BaseModel):
    """A model of the wire form: camelCase names, unknown fields refused, null as absent."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        # As on the API server, which prunes null fields (none is nullable) before defaulting.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data
