"""The WebAssembly proposals beyond 2.0, and the switches that turn each one off.

A proposal is named as its folder in the spec test suite (``"tail-call"``, ``"memory64"``...).
The decoder and the text parser read every construct they know whatever the switches say; the
validator is what refuses a module that uses a switched-off proposal, with a message that
names it ("uses the tail-call proposal (return_call), which is disabled"), so a module is never
refused for a reason the user cannot act on.

An embedder sets the switches with wasmtime's ``Config`` settings (``Config.wasm_tail_call =
False``...); :attr:`Engine.features <wasmforge.api.engine.Engine>` holds the resulting set,
which ``Module`` hands to :func:`wasmforge.valid.validate.validate`.  As in wasmtime 50, every
implemented proposal is on by default.  A proposal not implemented yet is off and cannot be
switched on (its setting accepts only ``False`` and says why otherwise).
"""

from __future__ import annotations

from typing import FrozenSet, Optional

from ._frozen import Frozen


class Feature(Frozen):
    """One proposal: its test-suite name, wasmtime's ``Config`` setting, and whether it is
    implemented here (on both tiers, through every layer).  Immutable, equal by its fields
    (_frozen.py)."""

    name: str
    setting: Optional[str]
    implemented: bool
    title: str
    _fields = ("name", "setting", "implemented", "title")

    def __init__(self, name: str, setting: Optional[str], implemented: bool, title: str):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "setting", setting)
        object.__setattr__(self, "implemented", implemented)
        object.__setattr__(self, "title", title)


#: Every proposal wasmforge knows of, implemented or not.  ``implemented`` is flipped when a
#: proposal passes its test-suite scripts on both tiers.
FEATURES = {f.name: f for f in (
    Feature("extended-const", "wasm_extended_const", True, "extended constant expressions"),
    Feature("annotations", None, True, "custom annotations in the text format"),
    Feature("tail-call", "wasm_tail_call", True, "tail calls"),
    Feature("exceptions", "wasm_exceptions", True, "exception handling"),
    Feature("function-references", "wasm_function_references", True,
            "typed function references"),
    Feature("memory64", "wasm_memory64", True, "64-bit memories"),
    Feature("multi-memory", "wasm_multi_memory", True, "multiple memories"),
    Feature("relaxed-simd", "wasm_relaxed_simd", True, "relaxed SIMD"),
    Feature("threads", "wasm_threads", True, "threads (shared memories and atomics)"),
    Feature("gc", "wasm_gc", True, "garbage collection"),
)}

#: Proposals implemented on the interp tier only, not yet on llvm: off by default, but
#: ``Config`` may switch them on (``Config.wasm_gc = True``); the interp tier then runs their
#: modules and the llvm tier refuses them with NotSupportedError.
INTERP_ONLY: FrozenSet[str] = frozenset()     # (gc was, until the llvm tier's native heap)

#: The proposals on when nothing is said: every implemented one (wasmtime 50's defaults are on
#: for all of these).
DEFAULT: FrozenSet[str] = frozenset(n for n, f in FEATURES.items() if f.implemented)

#: Every implemented proposal (what a test suite runner enables).
ALL: FrozenSet[str] = DEFAULT

# The spec test suite's folder for the exception-handling proposal.
_ALIASES = {"exception-handling": "exceptions"}


def feature_name(name: str) -> str:
    """The canonical name of a proposal (accepts the test suite's folder names too)."""
    return _ALIASES.get(name, name)


def disabled_message(feature: str, what: str) -> str:
    """The validation message for a module using ``what`` of a switched-off ``feature``."""
    f = FEATURES[feature]
    if not f.implemented and feature not in INTERP_ONLY:
        return (f"uses the {feature} proposal ({what}), which is not supported yet")
    return f"uses the {feature} proposal ({what}), which is disabled"


__all__ = ["Feature", "FEATURES", "INTERP_ONLY", "DEFAULT", "ALL", "feature_name", "disabled_message"]
