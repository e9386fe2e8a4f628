"""Write a commented TOML file from the pydantic models (``interforge init``).

Each table is preceded by its model's docstring and each key by its field description, so the
file documents every knob; the values are the models' defaults (the paper's settings).
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            raise ValueError("TOML cannot hold inf/nan defaults")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot render {type(value).__name__} as TOML")


def _render_table(model: BaseModel, name: str, lines: list[str]) -> None:
    doc = (type(model).__doc__ or "").strip().splitlines()
    lines.append("")
    lines.extend(f"# {d.strip()}" for d in doc if d.strip())
    lines.append(f"[{name}]")
    nested: list[tuple[str, BaseModel]] = []
    arrays: list[tuple[str, list[BaseModel]]] = []
    for key, field in type(model).model_fields.items():
        value = getattr(model, key)
        if isinstance(value, BaseModel):
            nested.append((key, value))
            continue
        if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            arrays.append((key, value))
            continue
        if field.description:
            lines.append(f"# {field.description}")
        if value is None:  # TOML has no null: leave the key unset, shown commented out
            lines.append(f"# {key} = ...  (unset by default)")
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    for key, sub in nested:
        _render_table(sub, f"{name}.{key}", lines)
    for key, items in arrays:
        for item in items:
            lines.append("")
            lines.append(f"[[{name}.{key}]]")
            for k in type(item).model_fields:
                lines.append(f"{k} = {_toml_value(getattr(item, k))}")


def render_default_toml(config: BaseModel | None = None) -> str:
    """Return the commented TOML text of ``config`` (default: the paper's settings)."""
    from interforge.config import InterforgeConfig

    config = config or InterforgeConfig()
    lines = [
        "# interforge project file. Values are the reference paper's settings;",
        "# edit what you need. Unknown keys and wrong types are rejected with the key's name.",
    ]
    for key in type(config).model_fields:
        _render_table(getattr(config, key), key, lines)
    return "\n".join(lines) + "\n"
