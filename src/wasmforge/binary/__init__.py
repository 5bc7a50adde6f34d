"""The WebAssembly binary format (spec chapter 5): decoding and encoding modules."""

from .decode import LAZY_THRESHOLD, MAX_LOCALS, decode_module


def __getattr__(name: str):
    # The encoder loads on first use: a warm run decodes its module (lazily) and encodes
    # nothing (start-up time, docs/performance.md).
    if name in ("encode_module", "encode_instr", "encode_expr"):
        from . import encode  # start-up speed: only what encodes needs it
        return getattr(encode, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["decode_module", "encode_module", "encode_instr", "encode_expr",
           "LAZY_THRESHOLD", "MAX_LOCALS"]
