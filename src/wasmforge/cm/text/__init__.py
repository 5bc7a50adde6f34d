"""The component text format (component-model ``Explainer.md``): ``parser`` reads text into the
component AST (:mod:`wasmforge.cm.ast`), ``printer`` writes an AST back as text."""

from __future__ import annotations

from .parser import ComponentParser, component_tokens, parse_component
from .printer import print_component

__all__ = ["parse_component", "print_component", "component_tokens", "ComponentParser"]
