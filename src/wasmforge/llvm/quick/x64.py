"""The x86-64 instructions the quick compiler emits, appended to a ``bytearray``.

Only the forms the translator needs: register-register and register-memory operands
(``[base + disp]`` or ``[base + index*scale + disp]``), immediates, and 32-bit relative
jumps and calls whose targets are patched once known.  Registers are numbers (``RAX`` = 0 ...
``R15`` = 15; the XMM registers are numbered the same way in the operand that holds them).
"""

from __future__ import annotations

import struct

_pack_rel32 = struct.Struct("<i").pack_into

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 = range(16)

# Condition codes (the low nibble of Jcc/SETcc/CMOVcc).
OV, NO, B, AE, E, NE, BE, A, S, NS, P, NP, L, GE, LE, G = range(16)


class Asm:
    """A code buffer and the encoders that append to it."""

    __slots__ = ("b",)

    def __init__(self, b: bytearray):
        self.b = b

    # ----- operands -----

    def m(self, op: bytes, reg: int, base: int, disp: int, w: int = 0, pfx: bytes = b"",
          index: int = -1, scale: int = 0, byte: bool = False) -> None:
        """``op reg, [base + index << scale + disp]`` (``reg`` may be an opcode extension)."""
        b = self.b
        if pfx:
            b += pfx
        x = index if index >= 0 else 0
        rex = (w << 3) | ((reg >> 3) << 2) | ((x >> 3) << 1) | (base >> 3)
        if rex or (byte and reg >= 4):
            b.append(0x40 | rex)
        b += op
        r = (reg & 7) << 3
        if disp == 0 and (base & 7) != 5:
            mod = 0
        elif -128 <= disp < 128:
            mod = 0x40
        else:
            mod = 0x80
        if index >= 0 or (base & 7) == 4:
            b.append(mod | r | 4)
            b.append((scale << 6) | (((x & 7) << 3) if index >= 0 else 0x20) | (base & 7))
        else:
            b.append(mod | r | (base & 7))
        if mod == 0x40:
            b.append(disp & 0xFF)
        elif mod == 0x80:
            b += (disp & 0xFFFFFFFF).to_bytes(4, "little")

    def r(self, op: bytes, reg: int, rm: int, w: int = 0, pfx: bytes = b"", byte: bool = False) -> None:
        """``op reg, rm`` with both operands registers."""
        b = self.b
        if pfx:
            b += pfx
        rex = (w << 3) | ((reg >> 3) << 2) | (rm >> 3)
        if rex or (byte and (rm >= 4 or reg >= 4)):
            b.append(0x40 | rex)
        b += op
        b.append(0xC0 | ((reg & 7) << 3) | (rm & 7))

    # ----- moves -----

    def load(self, reg: int, base: int, disp: int, w: int = 1) -> None:
        self.m(b"\x8b", reg, base, disp, w)

    def store(self, base: int, disp: int, reg: int, w: int = 1) -> None:
        self.m(b"\x89", reg, base, disp, w)

    def mov(self, dst: int, src: int, w: int = 1) -> None:
        self.r(b"\x89", src, dst, w)

    def imm(self, reg: int, value: int, w: int = 1) -> None:
        """``reg = value`` (the value's bits, truncated to 32 bits when ``w`` is 0)."""
        b = self.b
        if not w:
            value &= 0xFFFFFFFF
        elif value >= 1 << 63:
            value -= 1 << 64
        if 0 <= value < 1 << 32:
            if value == 0:
                self.r(b"\x31", reg, reg)          # xor r32, r32
                return
            if reg >= 8:
                b.append(0x41)
            b.append(0xB8 | (reg & 7))
            b += value.to_bytes(4, "little")
        elif -(1 << 31) <= value < 0:
            b.append(0x48 | (reg >> 3))
            b.append(0xC7)
            b.append(0xC0 | (reg & 7))
            b += (value & 0xFFFFFFFF).to_bytes(4, "little")
        else:
            b.append(0x48 | (reg >> 3))
            b.append(0xB8 | (reg & 7))
            b += (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")

    def store_imm(self, base: int, disp: int, value: int, w: int = 1) -> None:
        """``[base + disp] = value`` (a sign-extended imm32 when ``w``)."""
        self.m(b"\xc7", 0, base, disp, w)
        self.b += (value & 0xFFFFFFFF).to_bytes(4, "little")

    def lea(self, reg: int, base: int, disp: int, index: int = -1, scale: int = 0) -> None:
        self.m(b"\x8d", reg, base, disp, 1, index=index, scale=scale)

    # ----- arithmetic -----

    def alu_imm(self, ext: int, reg: int, value: int, w: int = 1) -> None:
        """``add/or/and/sub/xor/cmp`` (``ext`` 0/1/4/5/6/7) of ``reg`` and an imm32."""
        b = self.b
        rex = (w << 3) | (reg >> 3)
        if rex:
            b.append(0x40 | rex)
        if -128 <= value < 128:
            b.append(0x83)
            b.append(0xC0 | (ext << 3) | (reg & 7))
            b.append(value & 0xFF)
        else:
            b.append(0x81)
            b.append(0xC0 | (ext << 3) | (reg & 7))
            b += (value & 0xFFFFFFFF).to_bytes(4, "little")

    def alu_mem_imm(self, ext: int, base: int, disp: int, value: int, w: int = 1) -> None:
        if -128 <= value < 128:
            self.m(b"\x83", ext, base, disp, w)
            self.b.append(value & 0xFF)
        else:
            self.m(b"\x81", ext, base, disp, w)
            self.b += (value & 0xFFFFFFFF).to_bytes(4, "little")

    def setcc(self, cc: int, reg: int = RAX) -> None:
        """``reg = cc ? 1 : 0`` (32-bit, zero-extended)."""
        self.r(bytes((0x0F, 0x90 | cc)), 0, reg, byte=True)
        self.r(b"\x0f\xb6", reg, reg, byte=True)

    # ----- control -----

    def jcc(self, cc: int) -> int:
        """A conditional jump; returns the place of its rel32 (patched later)."""
        b = self.b
        b += bytes((0x0F, 0x80 | cc, 0, 0, 0, 0))
        return len(b) - 4

    def jmp(self) -> int:
        b = self.b
        b += b"\xe9\0\0\0\0"
        return len(b) - 4

    def call_rel(self) -> int:
        b = self.b
        b += b"\xe8\0\0\0\0"
        return len(b) - 4

    def call_mem(self, base: int, disp: int) -> None:
        self.m(b"\xff", 2, base, disp)

    def call_reg(self, reg: int) -> None:
        self.r(b"\xff", 2, reg)

    def patch(self, at: int, target: int) -> None:
        """Point the rel32 at ``at`` to ``target``."""
        _pack_rel32(self.b, at, target - at - 4)

    def push(self, reg: int) -> None:
        if reg >= 8:
            self.b.append(0x41)
        self.b.append(0x50 | (reg & 7))

    def pop(self, reg: int) -> None:
        if reg >= 8:
            self.b.append(0x41)
        self.b.append(0x58 | (reg & 7))

    # ----- SSE -----

    def movx_from_gpr(self, xmm: int, reg: int, w: int) -> None:
        """``movd/movq xmm, reg``."""
        self.r(b"\x0f\x6e", xmm, reg, w, b"\x66")

    def movx_to_gpr(self, reg: int, xmm: int, w: int) -> None:
        """``movd/movq reg, xmm``."""
        self.r(b"\x0f\x7e", xmm, reg, w, b"\x66")

    def fload(self, xmm: int, base: int, disp: int, f64: int) -> None:
        self.m(b"\x0f\x10", xmm, base, disp, 0, b"\xf2" if f64 else b"\xf3")

    def fstore(self, base: int, disp: int, xmm: int, f64: int) -> None:
        self.m(b"\x0f\x11", xmm, base, disp, 0, b"\xf2" if f64 else b"\xf3")

    def movaps(self, dst: int, src: int) -> None:
        """``movaps xmm<dst>, xmm<src>`` (the whole register: f32 and f64 alike)."""
        if dst != src:
            self.r(b"\x0f\x28", dst, src)
