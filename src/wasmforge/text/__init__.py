"""The WebAssembly text format: WAT modules and WAST scripts (spec chapter 6)."""

from __future__ import annotations

from .parser import parse_module
from .wast import parse_script


def wat2wasm(text: str) -> bytes:
    """Parse a WAT module and return its binary encoding (as wasmtime-py's ``wat2wasm``)."""
    from ..binary.encode import encode_module  # start-up speed: only wat2wasm encodes
    return encode_module(parse_module(text))


__all__ = ["parse_module", "parse_script", "wat2wasm"]
