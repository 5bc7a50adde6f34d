"""The WebAssembly binary format (spec chapter 5): decoding and encoding modules."""

from .decode import LAZY_THRESHOLD, MAX_LOCALS, decode_module
from .encode import encode_expr, encode_instr, encode_module

__all__ = ["decode_module", "encode_module", "encode_instr", "encode_expr",
           "LAZY_THRESHOLD", "MAX_LOCALS"]
