"""Building small binary modules by hand for the decoder's tests."""

from wasmforge.binary.leb128 import encode_unsigned

HEADER = b"\x00asm\x01\x00\x00\x00"


def u32(n: int) -> bytes:
    return encode_unsigned(n)


def vec(*items: bytes) -> bytes:
    return u32(len(items)) + b"".join(items)


def name(s: str) -> bytes:
    raw = s.encode("utf-8")
    return u32(len(raw)) + raw


def section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + u32(len(payload)) + payload


def module(*sections: bytes) -> bytes:
    return HEADER + b"".join(sections)


def code_entry(body: bytes, locals_: bytes = b"\x00") -> bytes:
    """One code section entry: ``locals_`` is the encoded local declarations vector."""
    return u32(len(locals_) + len(body)) + locals_ + body


# The type section of one `[] -> []` function type, and a function section using it.
TYPE_VOID = section(1, vec(b"\x60\x00\x00"))
ONE_FUNC = section(3, vec(b"\x00"))


def func_module(body: bytes, locals_: bytes = b"\x00", extra: bytes = b"") -> bytes:
    """A module with one `[] -> []` function whose body (ending in 0x0b) is ``body``;
    ``extra`` holds sections placed between the function and code sections."""
    return module(TYPE_VOID, ONE_FUNC, extra, section(10, vec(code_entry(body, locals_))))
