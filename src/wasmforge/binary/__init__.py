"""The WebAssembly binary format (spec chapter 5): decoding and encoding modules."""

from typing import TYPE_CHECKING, Any, List

from .decode import LAZY_THRESHOLD, MAX_LOCALS, decode_module

if TYPE_CHECKING:       # what __getattr__ gives, for type checkers
    from .encode import encode_expr, encode_instr, encode_module

_ENCODER = ("encode_module", "encode_instr", "encode_expr")


def __getattr__(name: str) -> Any:
    # The encoder loads on first use: a warm run decodes its module (lazily) and encodes
    # nothing (start-up time, docs/performance.md).
    if name in _ENCODER:
        from . import encode  # start-up speed: only what encodes needs it
        return getattr(encode, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted({*globals(), *_ENCODER})


__all__ = ["decode_module", "encode_module", "encode_instr", "encode_expr",
           "LAZY_THRESHOLD", "MAX_LOCALS"]
