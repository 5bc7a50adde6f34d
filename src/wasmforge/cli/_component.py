"""Components on the command line: ``validate``, ``inspect``, ``parse`` and ``print`` of a
component, binary or text."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ..cm import ast
from ..cm.binary import decode_component
from ..cm.text import parse_component
from ..cm.types import ComponentType, Extern, type_text
from ..cm.valid import validate_component
from ..errors import DecodeError, ParseError, ValidationError
from ._load import is_component


def read_component(data: bytes, path: Optional[str] = None) -> ast.Component:
    """Decode a component binary or parse a component text (raises DecodeError / ParseError)."""
    if data[:4] == b"\0asm":
        return decode_component(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ParseError("malformed UTF-8 encoding", line, column, path) from None
    return parse_component(text, path)


def load_component(data: bytes, path: Optional[str] = None) -> Tuple[ast.Component, ComponentType]:
    """Decode or parse, and validate a component (raises DecodeError / ParseError /
    ValidationError)."""
    c = read_component(data, path)
    return c, validate_component(c)


def describe_component(path: str, exc: Exception) -> str:
    """One line naming the file, the offset (or line and column) and what is wrong with the
    component."""
    if isinstance(exc, ParseError):
        return f"{path}:{exc.line}:{exc.column}: error: {exc.reason}"
    if isinstance(exc, DecodeError):
        where = f" (at byte offset {exc.offset:#x})" if exc.offset is not None else ""
        return f"{path}: error: malformed component: {exc.reason}{where}"
    if isinstance(exc, ValidationError):
        return f"{path}: error: invalid component: {exc}"
    return f"{path}: error: {exc}"


def _counts(c: ast.Component) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for d in c.definitions:
        sort = ast.sort_defined(d)
        key = sort if sort is not None else (
            "custom section" if isinstance(d, (ast.Custom, ast.ComponentNames)) else "start")
        out[key] = out.get(key, 0) + 1
    return out


def _entries(items: Tuple[Tuple[str, Extern], ...]) -> List[Dict[str, Any]]:
    return [{"name": n, "kind": e.sort, "type": type_text(e)} for n, e in items]


def summarize_component(c: ast.Component, ct: ComponentType, data: bytes) -> Dict[str, Any]:
    """What ``inspect`` shows of a component: size, definitions per sort, imports, exports
    (with their types) and custom sections."""
    return {
        "kind": "component",
        "size": len(data),
        "definitions": _counts(c),
        "imports": _entries(ct.imports),
        "exports": _entries(ct.exports),
        "customs": [{"name": d.name, "size": len(d.data)} for d in c.definitions
                    if isinstance(d, ast.Custom)],
    }


def render_component(info: Dict[str, Any]) -> str:
    lines = [f"component, {info['size']} bytes"]
    lines.append("definitions: " + ", ".join(f"{k} {v}" for k, v in info["definitions"].items()))
    for what in ("imports", "exports"):
        lines.append(f"{what} ({len(info[what])}):")
        for e in info[what]:
            lines.append(f"  {e['name']}: {e['type']}")
    for cs in info["customs"]:
        lines.append(f"custom section {cs['name']!r}: {cs['size']} bytes")
    if "wit" in info:
        lines.append("wit:")
        lines.extend(info["wit"].rstrip("\n").split("\n"))
    return "\n".join(lines)


__all__ = ["is_component", "read_component", "load_component", "describe_component", "summarize_component",
           "render_component"]
