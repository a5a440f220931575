"""What the command line shows a person: ages as kubectl prints them, and the rows of a service's
status and of its versions, as plain values the command turns into a table, JSON or YAML."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import yaml

Row = tuple[str, ...]


class Output(StrEnum):
    """The `-o` formats: a table that fits the terminal, the same uncut, or data for scripts."""

    TABLE = "table"
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"


def parse_time(timestamp: str) -> datetime:
    """An RFC 3339 timestamp as the API server writes it (`2026-11-29T20:12:30Z`)."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(UTC)


def human_duration(elapsed: timedelta) -> str:
    """A duration the way kubectl's AGE column prints it (apimachinery's HumanDuration):
    precise while it is short, coarser as it grows (`45s`, `3m20s`, `2h5m`, `4d`)."""
    seconds = int(elapsed.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 10:
        return _two_units(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return _two_units(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return _two_units(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return _two_units(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _two_units(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"


def age(timestamp: str | None, now: datetime) -> str:
    """How long ago a timestamp was, or `-` when there is none."""
    return human_duration(now - parse_time(timestamp)) if timestamp else "-"


def describe_deployment(entry: Mapping[str, Any] | None, now: datetime) -> str:
    """One line for the active or the activating version of a service."""
    if not entry:
        return "-"
    text = (
        f"version {entry['version']} ({entry['state']}, created {age(entry['createdAt'], now)} ago"
    )
    if entry.get("activatedAt"):
        text += f", active for {age(entry['activatedAt'], now)}"
    return text + ")"


def capacity(spec: Mapping[str, Any], state: Mapping[str, Any]) -> str:
    """Scale, power and pods, as the service runs them now."""
    text = f"scale {spec.get('scale', 1)}, power {spec.get('power', 'nano')}"
    if spec.get("disabled"):
        text += ", disabled"
    return text + f"; pods {state.get('readyReplicas', 0)} ready of {state.get('replicas', 0)}"


def status_rows(obj: Mapping[str, Any], now: datetime) -> list[Row]:
    """The `status` command's table: one (field, value) row each, conditions last."""
    metadata, state = obj["metadata"], obj.get("status") or {}
    rows: list[Row] = [
        ("Service", f"{metadata['namespace']}/{metadata['name']}"),
        ("State", state.get("state", "(not yet seen by the operator)")),
        ("Capacity", capacity(obj.get("spec") or {}, state)),
        ("URL", state.get("url", "-")),
        ("Private domain", state.get("privateDomain", "-")),
        ("Active", describe_deployment(state.get("currentDeployment"), now)),
        ("Activating", describe_deployment(state.get("nextDeployment"), now)),
    ]
    for condition in state.get("conditions", []):
        value = f"{condition['status']} ({condition['reason']})"
        if condition.get("message"):
            value += f": {condition['message']}"
        rows.append((condition["type"], value))
    return rows


VERSION_COLUMNS: Row = ("VERSION", "STATE", "AGE", "REASON", "MESSAGE")
WIDE_VERSION_COLUMNS: Row = ("VERSION", "STATE", "CREATED", "ACTIVATED", "REASON", "MESSAGE")


def version_rows(versions: Sequence[Mapping[str, Any]], now: datetime, wide: bool) -> list[Row]:
    """The `versions` command's table, newest first as kept. Wide rows carry the timestamps
    themselves instead of ages."""
    rows: list[Row] = []
    for entry in versions:
        when: Row = (
            (entry["createdAt"], entry.get("activatedAt", "-"))
            if wide
            else (age(entry["createdAt"], now),)
        )
        reason, message = entry.get("reason", ""), entry.get("message", "")
        rows.append((str(entry["version"]), entry["state"], *when, reason, message))
    return rows


def as_data(value: Any, output: Output) -> str:
    """A value as JSON or YAML, for scripts."""
    if output is Output.JSON:
        return json.dumps(value, indent=2) + "\n"
    return yaml.safe_dump(value, sort_keys=False)


def table(header: Row | None, rows: Sequence[Row], width: int | None) -> str:
    """Columns as kubectl prints them: left-aligned, three spaces apart, never wrapped. With a
    width, the last column is cut to fit, ending in `…` (`-o wide` passes none: nothing is cut)."""
    lines = [header, *rows] if header else list(rows)
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    out = []
    for line in lines:
        text = "".join(f"{cell:<{w}}   " for cell, w in zip(line, widths, strict=False))
        text += line[-1]
        if width is not None and len(text) > width:
            text = text[: max(width - 1, 0)].rstrip() + "…"
        out.append(text.rstrip())
    return "\n".join(out) + "\n"
