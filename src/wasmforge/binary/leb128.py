"""LEB128 integers (spec 5.2.2).

Readers take a ``bytes`` buffer and a position and return ``(value, new_position)``.  They
apply the spec's exact limits, the same way the reference interpreter does:

* an ``N``-bit integer uses at most ``ceil(N / 7)`` bytes, else "integer representation too
  long" (reported at the byte that would have been read next);
* in the last byte the bits beyond ``N`` must be zero (unsigned) or a sign extension of bit
  ``N - 1`` (signed), else "integer too large" (reported at that byte).

Reading past the end of the buffer raises ``IndexError``; the decoder turns that into a
:class:`~wasmforge.errors.DecodeError` ("unexpected end") at the one place that knows which
end was hit.

Writers append the shortest encoding of a value to a ``bytearray``.
"""

from __future__ import annotations

from ..errors import DecodeError

TOO_LONG = "integer representation too long"
TOO_LARGE = "integer too large"


def read_unsigned(buf, pos: int, bits: int) -> tuple:
    """Read an unsigned LEB128 integer of ``bits`` bits (``u32`` is ``bits=32``)."""
    result = 0
    shift = 0
    n = bits                       # bits still allowed, as in the spec's uN grammar
    while True:
        if n <= 0:
            raise DecodeError(TOO_LONG, pos)
        b = buf[pos]
        if n < 7 and (b & 0x7F) >= (1 << n):
            raise DecodeError(TOO_LARGE, pos)
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        n -= 7


def read_signed(buf, pos: int, bits: int) -> tuple:
    """Read a signed LEB128 integer of ``bits`` bits (``s32``, ``s33``, ``s64``)."""
    result = 0
    shift = 0
    n = bits
    while True:
        if n <= 0:
            raise DecodeError(TOO_LONG, pos)
        b = buf[pos]
        if n < 7:
            # The unused high bits of the last byte must all equal the sign bit.
            mask = (-1 << (n - 1)) & 0x7F
            high = b & mask
            if high != 0 and high != mask:
                raise DecodeError(TOO_LARGE, pos)
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                result -= 1 << shift
            return result, pos
        n -= 7


def read_u32(buf, pos: int) -> tuple:
    """Read a ``u32`` (with a fast path for the one-byte case)."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    return read_unsigned(buf, pos, 32)


def read_s32(buf, pos: int) -> tuple:
    """Read an ``s32`` (an ``i32.const`` immediate)."""
    b = buf[pos]
    if b < 0x80:
        return (b - 0x80 if b & 0x40 else b), pos + 1
    return read_signed(buf, pos, 32)


def read_s33(buf, pos: int) -> tuple:
    """Read an ``s33`` (a block type's type index)."""
    return read_signed(buf, pos, 33)


def read_s64(buf, pos: int) -> tuple:
    """Read an ``s64`` (an ``i64.const`` immediate)."""
    b = buf[pos]
    if b < 0x80:
        return (b - 0x80 if b & 0x40 else b), pos + 1
    return read_signed(buf, pos, 64)


def write_unsigned(out: bytearray, value: int) -> None:
    """Append the shortest unsigned LEB128 encoding of ``value`` (which must be >= 0)."""
    if value < 0x80:
        out.append(value)
        return
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def write_signed(out: bytearray, value: int) -> None:
    """Append the shortest signed LEB128 encoding of ``value``."""
    if -0x40 <= value < 0x40:
        out.append(value & 0x7F)
        return
    while True:
        b = value & 0x7F
        value >>= 7             # arithmetic shift: -1 stays -1
        if (value == 0 and not b & 0x40) or (value == -1 and b & 0x40):
            out.append(b)
            return
        out.append(b | 0x80)


def encode_unsigned(value: int) -> bytes:
    """The shortest unsigned LEB128 encoding of ``value``."""
    out = bytearray()
    write_unsigned(out, value)
    return bytes(out)


def encode_signed(value: int) -> bytes:
    """The shortest signed LEB128 encoding of ``value``."""
    out = bytearray()
    write_signed(out, value)
    return bytes(out)


__all__ = [
    "read_unsigned", "read_signed", "read_u32", "read_s32", "read_s33", "read_s64",
    "write_unsigned", "write_signed", "encode_unsigned", "encode_signed",
    "TOO_LONG", "TOO_LARGE",
]
