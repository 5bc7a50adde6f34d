"""The data model of WAST scripts (the spec test suite's format, spec interpreter README).

``wasmforge.text.wast.parse_script`` produces these commands; the spec runner
(``wasmforge.script``) executes them.  Constants use the same representation as instruction
immediates (see :mod:`wasmforge.opcodes`): i32/i64 as signed ints, f32/f64 as IEEE-754 bit
patterns, v128 as an unsigned 128-bit int with lane 0 in the low bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Union

from ..module import Module


# ----- values -----

@dataclass(frozen=True)
class Const:
    """``(i32.const 1)`` ... ``(v128.const i32x4 1 2 3 4)``: ``type`` is the value type."""

    type: str
    value: int


@dataclass(frozen=True)
class RefNull:
    """``(ref.null func)`` / ``(ref.null extern)``; ``type`` is ``funcref`` or ``externref``
    (``None`` for a result written ``(ref.null)``: any null reference)."""

    type: str


@dataclass(frozen=True)
class RefExtern:
    """``(ref.extern N)``: a host reference the script names by number."""

    value: int


@dataclass(frozen=True)
class RefFunc:
    """``(ref.func)`` in a result: any non-null function reference."""


@dataclass(frozen=True)
class RefHost:
    """``(ref.host N)``: a host reference the script names by number, in the any hierarchy
    (GC scripts; what ``any.convert_extern`` makes of ``(ref.extern N)``)."""

    value: int


@dataclass(frozen=True)
class RefKind:
    """``(ref.struct)``, ``(ref.array)``, ``(ref.i31)``, ``(ref.eq)``, ``(ref.any)`` or
    ``(ref.extern)`` in a result: any non-null reference of that kind (GC scripts)."""

    kind: str


@dataclass(frozen=True)
class NanPattern:
    """``nan:canonical`` or ``nan:arithmetic`` for an f32 or f64 result (or lane)."""

    type: str          # "f32" or "f64"
    kind: str          # "canonical" or "arithmetic"


@dataclass(frozen=True)
class V128Pattern:
    """A v128 result written per lane, where some lanes are NaN patterns:
    ``(v128.const f32x4 1.0 nan:canonical 2.0 nan:arithmetic)``.  ``lanes`` holds, per lane,
    an int (the lane's bits) or a :class:`NanPattern`."""

    shape: str         # "i8x16" ... "f64x2"
    lanes: tuple


@dataclass(frozen=True)
class Either:
    """``(either r1 r2 ...)``: a result that may be any of ``alternatives`` (each one of the
    other patterns), for instructions whose result is not deterministic (relaxed SIMD,
    threads)."""

    alternatives: tuple


Value = Union[Const, RefNull, RefExtern, "CValue"]
Expected = Union[Const, RefNull, RefExtern, RefFunc, NanPattern, V128Pattern, Either]


# ----- module definitions -----

@dataclass
class ModuleSource:
    """A module as the script writes it.  ``kind`` is ``text`` (already parsed: ``module``),
    ``binary`` (``data`` holds the bytes) or ``quote`` (``text`` holds the source to parse).
    Binary and quoted modules are decoded/parsed only when the runner asks (``load``), since
    ``assert_malformed`` expects exactly that step to fail."""

    kind: str
    line: int
    module: Optional[Module] = None
    data: Optional[bytes] = None
    text: Optional[str] = None
    name: Optional[str] = None      # the $id after `module`, if any

    def load(self, features=None) -> Module:
        """Return the module, decoding or parsing it now (raising DecodeError / ParseError).
        ``features`` (default: wasmforge.features.DEFAULT) choose between the 2.0 formats and
        those of memory64 / multi-memory where they differ."""
        if self.kind == "text":
            return self.module
        if self.kind == "binary":
            from ..binary.decode import decode_module  # start-up speed: binary modules only
            # A script's modules are read in the binary format of exactly the proposals it
            # runs with (a script written before exception handling expects its opcodes to be
            # illegal).
            if features is None:
                return decode_module(self.data)
            return decode_module(self.data, features=features, strict=True)
        from .parser import parse_module  # start-up speed: quoted modules only
        return parse_module(self.text) if features is None else parse_module(self.text, features=features)


@dataclass
class ComponentSource:
    """A component as the script writes it (component model WAST).  ``kind`` is ``text``
    (``text`` holds the source of the whole ``(component ...)`` form), ``binary`` (``data``
    holds the bytes) or ``quote`` (``text`` holds the quoted source, without the
    ``(component`` around it).  The script reader never parses a component: the component
    text format lives above this package (``wasmforge.cm.text``), and the runner parses,
    decodes and validates a component only when a command needs it, since
    ``assert_malformed`` expects exactly that step to fail."""

    kind: str
    line: int
    text: Optional[str] = None
    data: Optional[bytes] = None
    name: Optional[str] = None      # the $id after `component`, if any
    definition: bool = False        # `(component definition $x ...)`: defined, not instantiated
    column: int = 1                 # where ``text`` starts in the script (for error positions)


# ----- component-model values (component WAST: str.const, record.const ...) -----

@dataclass(frozen=True)
class CValue:
    """A component-model value constant.  ``kind`` is the constant's keyword without its
    suffix (``bool``, ``u8`` ... ``f64``, ``char``, ``str``, ``list``, ``record``,
    ``tuple``, ``variant``, ``enum``, ``flags``, ``option``, ``result``).  ``value`` holds:
    the int (the bit pattern for ``f32``/``f64``), bool or str of a scalar; a tuple of
    CValue for ``list`` and ``tuple``; a tuple of (label, CValue) for ``record``; a tuple
    of labels for ``flags``; the case label for ``enum``; ``(label, CValue or None)`` for
    ``variant``; ``None`` or a CValue for ``option``; ``(is_ok, CValue or None)`` for
    ``result``."""

    kind: str
    value: object


# ----- actions and commands -----

@dataclass
class Invoke:
    line: int
    module: Optional[str]   # $name of a registered/defined module, or None for the current one
    name: str
    args: List[Value] = field(default_factory=list)


@dataclass
class Get:
    line: int
    module: Optional[str]
    name: str


Action = Union[Invoke, Get]


@dataclass
class ModuleCommand:
    """``(module ...)``: define a module and instantiate it; it becomes the current module."""

    line: int
    source: ModuleSource


@dataclass
class ComponentCommand:
    """``(component $id? ...)`` (defined and instantiated; the current instance) or
    ``(component definition $id ...)`` (defined only)."""

    line: int
    source: ComponentSource


@dataclass
class ComponentInstanceCommand:
    """``(component instance $i $c)``: instantiate the component definition ``$c`` as
    ``$i``."""

    line: int
    name: Optional[str]
    component: Optional[str]


@dataclass
class Register:
    """``(register "name" $module?)``: make a module's exports importable under ``name``."""

    line: int
    as_name: str
    module: Optional[str]


@dataclass
class ActionCommand:
    """A bare ``(invoke ...)`` or ``(get ...)``."""

    line: int
    action: Action


@dataclass
class AssertReturn:
    line: int
    action: Action
    expected: List[Expected]


@dataclass
class AssertTrap:
    """``assert_trap`` on an action, or on a module whose instantiation must trap."""

    line: int
    action: Optional[Action]
    module: Optional[Union[ModuleSource, ComponentSource]]
    message: str


@dataclass
class AssertExhaustion:
    line: int
    action: Action
    message: str


@dataclass
class AssertException:
    """``assert_exception``: the action must end in an uncaught wasm exception (exception
    handling)."""

    line: int
    action: Action


@dataclass
class AssertInvalid:
    line: int
    module: Union[ModuleSource, ComponentSource]
    message: str


@dataclass
class AssertMalformed:
    line: int
    module: Union[ModuleSource, ComponentSource]
    message: str


@dataclass
class AssertUnlinkable:
    line: int
    module: Union[ModuleSource, ComponentSource]
    message: str


@dataclass
class AssertUninstantiable:
    line: int
    module: Union[ModuleSource, ComponentSource]
    message: str


Command = Union[ModuleCommand, ComponentCommand, ComponentInstanceCommand, Register, ActionCommand, AssertReturn, AssertTrap, AssertExhaustion,
                AssertException,
                AssertInvalid, AssertMalformed, AssertUnlinkable, AssertUninstantiable]
