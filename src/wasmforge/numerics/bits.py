"""The runtime value model and conversions between values and their bit patterns.

Both execution tiers and the API agree on how a WebAssembly value lives in Python:

====== =====================================================================
i32    ``int`` in ``[0, 2**32)`` (unsigned canonical form; the API shows it signed)
i64    ``int`` in ``[0, 2**64)``
f32    ``float`` holding a value exactly representable in binary32.  A NaN keeps its
       binary32 payload in the top 23 mantissa bits of the double, *including* signalling
       NaNs, so ``f32_to_bits(f32_from_bits(b)) == b`` for every ``b``.
f64    ``float``
v128   ``int`` in ``[0, 2**128)``, lane 0 in the low bits
ref    ``None`` for null, else the referenced object
====== =====================================================================

``struct``'s ``'f'`` format cannot be used for NaNs: CPython converts through a C ``float``
to ``double`` cast, which quiets signalling NaNs and so changes the bits.
"""

from __future__ import annotations

import struct

_F = struct.Struct("<f")
_D = struct.Struct("<d")
_I = struct.Struct("<I")
_Q = struct.Struct("<Q")

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF
MASK128 = (1 << 128) - 1


def f64_from_bits(b: int) -> float:
    return _D.unpack(_Q.pack(b))[0]


def f64_to_bits(x: float) -> int:
    return _Q.unpack(_D.pack(x))[0]


def f32_from_bits(b: int) -> float:
    if (b & 0x7F800000) == 0x7F800000 and b & 0x007FFFFF:
        # NaN: place sign and the 23-bit payload in a double NaN by hand.
        return _D.unpack(_Q.pack(((b >> 31) << 63) | (0x7FF << 52) | ((b & 0x007FFFFF) << 29)))[0]
    return _F.unpack(_I.pack(b))[0]


def f32_to_bits(x: float) -> int:
    if x != x:
        d = _Q.unpack(_D.pack(x))[0]
        mant = (d >> 29) & 0x007FFFFF
        if not mant:
            mant = 0x00400000       # a double NaN whose payload sits below binary32's reach
        return ((d >> 63) << 31) | 0x7F800000 | mant
    return _I.unpack(_F.pack(x))[0]


def f32_round(x: float) -> float:
    """Round a double to the nearest binary32 value (ties to even), overflowing to infinity."""
    try:
        return _F.unpack(_F.pack(x))[0]
    except OverflowError:
        return float("inf") if x > 0 else float("-inf")


def i32_signed(v: int) -> int:
    return v - 0x100000000 if v & 0x80000000 else v


def i64_signed(v: int) -> int:
    return v - 0x10000000000000000 if v & 0x8000000000000000 else v


__all__ = ["f32_from_bits", "f32_to_bits", "f64_from_bits", "f64_to_bits", "f32_round",
           "i32_signed", "i64_signed", "MASK32", "MASK64", "MASK128"]
