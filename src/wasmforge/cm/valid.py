"""Validate a component (component-model ``Binary.md`` and ``Explainer.md`` validation rules).

``validate_component(c)`` walks the definitions in order, growing one index space per sort, and
resolves every type index into the values of ``types``; it returns the component's
``ComponentType`` (its imports and exports with their types) or raises ``ValidationError``
with the byte offset of the definition at fault and wasm-tools' wording where the
component-model scripts check it.

Nested core modules are validated by the core validator with the given proposals switched on.

Besides the resolved (structural) types, the validator keeps an identity token per type index:
the "external visibility" rule (a record, variant, enum, flags or resource used in the type of
an import or export must have been named by an import or export) is about which *index* a type
was reached through, not about its structure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple, cast

from ..errors import DecodeError, ValidationError
from ..features import DEFAULT as DEFAULT_FEATURES
from ..module import Import as CoreImport
from ..module import Module
from ..types import FuncType as CoreFuncType
from ..types import GlobalType, MemoryType, TableType, limits_match
from ..valid.validate import validate as validate_module
from . import ast
from .abi import layout
from .valuedef import read_value
from .types import (
    BorrowType, ComponentType, CoreExtern, CoreModuleType, EnumType, Extern, FlagsType, FuncType,
    FutureType, InstanceType, ListType, OptionType, OwnType, Primitive, RecordType, ResourceType,
    ResultType, StreamType, TupleType, ValType, VariantType, children,
)

#: Binary.md: every defvaltype's elem_size(t) must be below 2**28.
MAX_TYPE_SIZE = 1 << 28
#: Bounds on a type's size and nesting (wasm-tools' limits), which keep validation linear.
MAX_TYPE_NODES = 1_000_000
MAX_TYPE_DEPTH = 100


class _Invalid(Exception):
    """A validation failure without its position yet."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Mismatch(Exception):
    """A subtyping failure: the chain of contexts, innermost last."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.messages = [message]

    def within(self, context: str) -> "_Mismatch":
        self.messages.insert(0, context)
        return self

    def __str__(self) -> str:
        return ": ".join(self.messages)


# ----- names (Explainer.md "Import and Export Definitions") -----

def _is_fragment(s: str, first: bool) -> bool:
    if not s:
        return False
    if first and not s[0].isalpha():
        return False
    if not all(c.isascii() and (c.isdigit() or c.isalpha()) for c in s):
        return False
    return s == s.lower() or s == s.upper()


def is_kebab(s: str) -> bool:
    """Whether ``s`` is a ``label``: kebab-case words or acronyms."""
    parts = s.split("-")
    return all(_is_fragment(p, i == 0) for i, p in enumerate(parts))


def _kebab(s: str) -> None:
    if not is_kebab(s):
        raise _Invalid(f"`{s}` is not in kebab case")


def _words(s: str, whole: str) -> None:
    _kebab(s)
    if s != s.lower():
        raise _Invalid(f"`{whole}` is not a valid extern name")


_SEMVER_PARTS = ("major", "minor", "patch")


def check_semver(v: str) -> None:
    """A ``valid semver`` (semver.org 2.0), with the semver crate's messages."""
    if not v:
        raise _Invalid("empty string, expected a semver version")
    i = 0
    for n, part in enumerate(_SEMVER_PARTS):
        start = i
        while i < len(v) and v[i].isdigit():
            i += 1
        if i == start:
            if i >= len(v):
                raise _Invalid(f"unexpected end of input while parsing {part} version number")
            raise _Invalid(f"unexpected character {v[i]!r} while parsing {part} version number")
        if v[start] == "0" and i - start > 1:
            raise _Invalid(f"invalid leading zero in {part} version number")
        if n < 2:
            if i >= len(v):
                raise _Invalid(f"unexpected end of input while parsing {part} version number")
            if v[i] != ".":
                raise _Invalid(f"unexpected character {v[i]!r} after {part} version number, "
                               "expected '.'")
            i += 1
    rest = v[i:]
    if rest and rest[0] not in "-+":
        raise _Invalid(f"unexpected character {rest[0]!r} after patch version number")
    while rest:
        kind = "pre-release" if rest[0] == "-" else "build metadata"
        rest = rest[1:]
        end = rest.find("+") if kind == "pre-release" else len(rest)
        if end < 0:
            end = len(rest)
        body, rest = rest[:end], rest[end:]
        for seg in body.split("."):
            if not seg:
                raise _Invalid(f"empty identifier segment in {kind} identifier")
            if not all(c.isascii() and (c.isalnum() or c == "-") for c in seg):
                raise _Invalid(f"unexpected character in {kind} identifier")
        if rest and kind == "build metadata":
            raise _Invalid("unexpected character '+' in build metadata")


def _interface_name(name: str) -> None:
    """``namespace:package/interface@version``."""
    colon = name.index(":")
    ns = name[:colon]
    _words(ns, name)
    rest = name[colon + 1:]
    end = 0
    while end < len(rest) and rest[end] not in "/:@":
        end += 1
    pkg = rest[:end]
    _words(pkg, name)
    if end >= len(rest) or rest[end] != "/":
        raise _Invalid(f"expected `/` after package name in `{name}`")
    rest = rest[end + 1:]
    end = 0
    while end < len(rest) and rest[end] not in "/@":
        end += 1
    _kebab(rest[:end])
    rest = rest[end:]
    if rest.startswith("/"):
        raise _Invalid(f"trailing characters found: `{rest}`")
    if rest.startswith("@"):
        check_semver(rest[1:])


def check_extern_name(name: str) -> str:
    """Validate an ``externname``; returns its kind: ``"plain"``, ``"constructor"``,
    ``"method"``, ``"static"`` or ``"interface"``."""
    for prefix in ("[constructor]", "[method]", "[static]"):
        if name.startswith(prefix):
            rest = name[len(prefix):]
            if prefix == "[constructor]":
                _kebab(rest)
                return "constructor"
            dot = rest.find(".")
            if dot < 0:
                raise _Invalid(f"failed to find `.` character in `{name}`")
            _kebab(rest[:dot])
            _kebab(rest[dot + 1:])
            return prefix[1:-1]
    if ":" in name:
        _interface_name(name)
        return "interface"
    _kebab(name)
    return "plain"


def canonical_name(name: str) -> str:
    """The strongly-unique canonical form of a name (Explainer.md "Name Uniqueness")."""
    n = name.lower()
    for prefix in ("[method]", "[static]"):
        if n.startswith(prefix):
            rest = n[len(prefix):]
            left, _, right = rest.partition(".")
            return left if left == right else rest
    return n


class _Names:
    """Names of one kind in one scope, strongly unique."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.seen: Dict[str, str] = {}

    def add(self, name: str) -> None:
        key = canonical_name(name)
        prev = self.seen.get(key)
        if prev is not None:
            if prev == name:
                raise _Invalid(f"{self.what} name `{name}` conflicts with previous name `{prev}`")
            raise _Invalid(f"{self.what} name `{name}` conflicts with previous name `{prev}`")
        self.seen[key] = name


# ----- flattening (CanonicalABI.md "Flattening") -----

def _core_functype(ft: FuncType, context: str, ptr: str = "i32", is_async: bool = False,
                   callback: bool = False) -> CoreFuncType:
    """The core function type of a ``canon lift`` (``context="lift"``) or ``lower`` of ``ft``."""
    params, results = layout.flatten_functype(ft, context, ptr, is_async, callback)
    return CoreFuncType(list(params), list(results))


def _flat(t: Optional[ValType]) -> Tuple[str, ...]:
    """The core types one value of ``t`` (None: no value) flattens to, with i32 pointers."""
    return () if t is None else layout.flatten_type(t)


# ----- resource substitution -----

ResMap = Dict[ResourceType, ResourceType]


def subst(t: object, m: ResMap) -> object:
    """``t`` with the resource types of ``m`` replaced."""
    if not m or _plain(t):
        return t
    if isinstance(t, ResourceType):
        return m.get(t, t)
    if isinstance(t, Primitive) or t is None:
        return t
    if isinstance(t, OwnType):
        return OwnType(m.get(t.resource, t.resource))
    if isinstance(t, BorrowType):
        return BorrowType(m.get(t.resource, t.resource))
    if isinstance(t, RecordType):
        return RecordType(tuple((n, _v(subst(f, m))) for n, f in t.fields))
    if isinstance(t, VariantType):
        return VariantType(tuple((n, None if c is None else _v(subst(c, m))) for n, c in t.cases))
    if isinstance(t, ListType):
        return ListType(_v(subst(t.element, m)), t.length)
    if isinstance(t, TupleType):
        return TupleType(tuple(_v(subst(e, m)) for e in t.elements))
    if isinstance(t, OptionType):
        return OptionType(_v(subst(t.inner, m)))
    if isinstance(t, ResultType):
        return ResultType(_ov(subst(t.ok, m)), _ov(subst(t.err, m)))
    if isinstance(t, StreamType):
        return StreamType(_ov(subst(t.element, m)))
    if isinstance(t, FutureType):
        return FutureType(_ov(subst(t.element, m)))
    if isinstance(t, FuncType):
        return FuncType(tuple((n, _v(subst(p, m))) for n, p in t.params), _ov(subst(t.result, m)),
                        t.is_async)
    if isinstance(t, Extern):
        return Extern(t.sort, subst(t.type, m))
    if isinstance(t, InstanceType):
        return InstanceType(tuple((n, _e(subst(e, m))) for n, e in t.exports),
                            tuple(m.get(r, r) for r in t.defined))
    if isinstance(t, ComponentType):
        return ComponentType(tuple((n, _e(subst(e, m))) for n, e in t.imports),
                             tuple((n, _e(subst(e, m))) for n, e in t.exports),
                             tuple(m.get(r, r) for r in t.imported),
                             tuple(m.get(r, r) for r in t.defined))
    return t


# id(type) -> (the type, whether it mentions no resource type).  Each instantiation of a
# component substitutes its resource types into all its import types (~4,000 nodes for a
# componentize-py wasi:http handler), most of which (records of strings, error enums) have
# none: those are returned as they are, with no walk.  Types are immutable and kept here
# (their ids stay theirs); the table is emptied when it grows large.
_PLAIN: Dict[int, Tuple[object, bool]] = {}
_PLAIN_KEPT = 1 << 16


def _plain(t: object) -> bool:
    """Whether ``t`` mentions no resource type (so ``subst`` leaves it unchanged for any map)."""
    hit = _PLAIN.get(id(t))
    if hit is not None and hit[0] is t:
        return hit[1]
    if isinstance(t, (ResourceType, OwnType, BorrowType)):
        return False
    if isinstance(t, Primitive) or t is None:
        return True
    if isinstance(t, (RecordType, VariantType, ListType, TupleType, OptionType, ResultType,
                      StreamType, FutureType, FuncType)):
        plain = all(_plain(c) for c in children(t))
    elif isinstance(t, Extern):
        plain = _plain(t.type)
    elif isinstance(t, InstanceType):
        plain = not t.defined and all(_plain(e) for _, e in t.exports)
    elif isinstance(t, ComponentType):
        plain = not t.imported and not t.defined and all(
            _plain(e) for _, e in t.imports + t.exports)
    else:
        plain = True        # what subst leaves as it is (flags, enums, core types)
    if len(_PLAIN) >= _PLAIN_KEPT:
        _PLAIN.clear()
    _PLAIN[id(t)] = (t, plain)
    return plain


def _v(t: object) -> ValType:
    assert isinstance(t, ValType)
    return t


def _ov(t: object) -> Optional[ValType]:
    assert t is None or isinstance(t, ValType)
    return t


def _e(t: object) -> Extern:
    assert isinstance(t, Extern)
    return t


def fresh(resources: Iterable[ResourceType]) -> ResMap:
    """A fresh resource type for each of ``resources``."""
    return {r: ResourceType(r.name, r.rep) for r in resources}


def resources_in(t: object, out: Optional[List[ResourceType]] = None) -> List[ResourceType]:
    """The resource types ``t`` refers to, in order of first use."""
    if out is None:
        out = []
    if isinstance(t, ResourceType):
        if t not in out:
            out.append(t)
    elif isinstance(t, (OwnType, BorrowType)):
        resources_in(t.resource, out)
    elif isinstance(t, (ValType, FuncType)):
        for c in children(t):
            resources_in(c, out)
    elif isinstance(t, Extern):
        resources_in(t.type, out)
    elif isinstance(t, InstanceType):
        for _, ext in t.exports:
            resources_in(ext, out)
    elif isinstance(t, ComponentType):
        inner = set(t.imported) | set(t.defined)
        for r in resources_in(tuple(e for _, e in t.imports + t.exports), []):
            if r not in inner and r not in out:
                out.append(r)
    elif isinstance(t, tuple):
        for e in t:
            resources_in(e, out)
    return out


# ----- subtyping -----

def _kind(t: object) -> str:
    if isinstance(t, ValType):
        return t.kind
    if isinstance(t, FuncType):
        return "func"
    if isinstance(t, ResourceType):
        return "resource"
    if isinstance(t, ComponentType):
        return "component"
    if isinstance(t, InstanceType):
        return "instance"
    return type(t).__name__


def check_valtype(a: Optional[ValType], b: Optional[ValType], m: ResMap,
                  top: bool = False) -> None:
    """``a`` (actual) is a subtype of ``b`` (expected, resources mapped through ``m``).
    ``top``: ``b`` is a defined type (a type import's bound), not a value type as written."""
    if a == b and not m:
        return
    if a is None or b is None:
        if a is b:
            return
        raise _Mismatch("expected a type, found none" if a is None else "expected no type")
    if isinstance(b, Primitive) or isinstance(a, Primitive):
        if isinstance(a, Primitive) and isinstance(b, Primitive):
            if a != b:
                raise _Mismatch(f"expected primitive `{b.name}` found primitive `{a.name}`")
            return
        if isinstance(b, Primitive):
            raise _Mismatch(f"expected primitive, found {a.kind}" if top
                            else f"expected {b.name}, found {a.kind}")
        raise _Mismatch(f"expected {b.kind}, found {a.kind}")
    if type(a) is not type(b):
        raise _Mismatch(f"expected {b.kind}, found {a.kind}")
    if isinstance(a, RecordType) and isinstance(b, RecordType):
        if len(a.fields) != len(b.fields):
            raise _Mismatch(f"expected {len(b.fields)} fields, found {len(a.fields)}")
        for (an, at), (bn, bt) in zip(a.fields, b.fields):
            if an != bn:
                raise _Mismatch(f"expected field name `{bn}`, found `{an}`")
            try:
                check_valtype(at, bt, m)
            except _Mismatch as e:
                raise e.within(f"type mismatch in record field `{an}`") from None
    elif isinstance(a, VariantType) and isinstance(b, VariantType):
        if len(a.cases) != len(b.cases):
            raise _Mismatch(f"expected {len(b.cases)} cases, found {len(a.cases)}")
        for (an, oat), (bn, obt) in zip(a.cases, b.cases):
            if an != bn:
                raise _Mismatch(f"expected case named `{bn}`, found `{an}`")
            if (oat is None) != (obt is None):
                if obt is not None:
                    raise _Mismatch(f"expected case `{an}` to have a type, found none")
                raise _Mismatch(f"expected case `{an}` to have no type")
            try:
                check_valtype(oat, obt, m)
            except _Mismatch as e:
                raise e.within(f"type mismatch in variant case `{an}`") from None
    elif isinstance(a, ListType) and isinstance(b, ListType):
        if a.length != b.length:
            raise _Mismatch("expected list length to match")
        try:
            check_valtype(a.element, b.element, m)
        except _Mismatch as e:
            raise e.within("type mismatch in list element") from None
    elif isinstance(a, TupleType) and isinstance(b, TupleType):
        if len(a.elements) != len(b.elements):
            raise _Mismatch(f"expected {len(b.elements)} types, found {len(a.elements)}")
        for i, (at, bt) in enumerate(zip(a.elements, b.elements)):
            try:
                check_valtype(at, bt, m)
            except _Mismatch as e:
                raise e.within(f"type mismatch in tuple field {i}") from None
    elif isinstance(a, FlagsType) and isinstance(b, FlagsType):
        if a.labels != b.labels:
            raise _Mismatch("mismatch in flags elements")
    elif isinstance(a, EnumType) and isinstance(b, EnumType):
        if a.labels != b.labels:
            raise _Mismatch("mismatch in enum elements")
    elif isinstance(a, OptionType) and isinstance(b, OptionType):
        try:
            check_valtype(a.inner, b.inner, m)
        except _Mismatch as e:
            raise e.within("type mismatch in option") from None
    elif isinstance(a, ResultType) and isinstance(b, ResultType):
        for what, rat, rbt in (("ok", a.ok, b.ok), ("err", a.err, b.err)):
            if rat is None and rbt is not None:
                raise _Mismatch(f"expected {what} type, but found none")
            if rat is not None and rbt is None:
                raise _Mismatch(f"expected {what} type to not be present")
            try:
                check_valtype(rat, rbt, m)
            except _Mismatch as e:
                raise e.within(f"type mismatch in {what} variant") from None
    elif isinstance(a, (OwnType, BorrowType)) and isinstance(b, (OwnType, BorrowType)):
        if m.get(b.resource, b.resource) is not a.resource:
            raise _Mismatch("resource types are not the same")
    elif isinstance(a, (StreamType, FutureType)) and isinstance(b, (StreamType, FutureType)):
        if (a.element is None) != (b.element is None):
            raise _Mismatch(f"type mismatch in {a.kind} payload")
        check_valtype(a.element, b.element, m)


def check_functype(a: FuncType, b: FuncType, m: ResMap) -> None:
    if a.is_async != b.is_async:
        raise _Mismatch("expected " + ("async" if b.is_async else "sync") + " function, found "
                        + ("async" if a.is_async else "sync"))
    if len(a.params) != len(b.params):
        raise _Mismatch(f"expected {len(b.params)} parameters, found {len(a.params)}")
    for (an, at), (bn, bt) in zip(a.params, b.params):
        if an != bn:
            raise _Mismatch(f"expected parameter named `{bn}`, found `{an}`")
        try:
            check_valtype(at, bt, m)
        except _Mismatch as e:
            raise e.within(f"type mismatch in function parameter `{an}`") from None
    if (a.result is None) != (b.result is None):
        # (wasm-tools' wording, which names the two sides the other way round)
        if a.result is not None:
            raise _Mismatch("expected a result, found none")
        raise _Mismatch("expected no result, found one")
    try:
        check_valtype(a.result, b.result, m)
    except _Mismatch as e:
        raise e.within("type mismatch with result type") from None


def check_type(a: object, b: object, m: ResMap, abstract: Set[ResourceType]) -> None:
    """The type ``a`` (a ``type`` export or argument) matches the type ``b``."""
    if isinstance(b, ResourceType):
        if b in abstract and b not in m:
            if not isinstance(a, ResourceType):
                raise _Mismatch("expected resource, found defined type")
            m[b] = a
            return
        if not isinstance(a, ResourceType):
            raise _Mismatch("expected resource, found defined type")
        if m.get(b, b) is not a:
            raise _Mismatch("resource types are not the same")
        return
    if isinstance(a, ResourceType):
        raise _Mismatch("expected defined type, found resource")
    if isinstance(b, ValType) and isinstance(a, ValType):
        check_valtype(a, b, m, top=True)
    elif isinstance(b, FuncType) and isinstance(a, FuncType):
        check_functype(a, b, m)
    elif isinstance(b, InstanceType) and isinstance(a, InstanceType):
        check_instance(a, b, m, abstract)
    elif isinstance(b, ComponentType) and isinstance(a, ComponentType):
        check_component(a, b, m)
    elif _kind(a) != _kind(b):
        if isinstance(a, ValType) or isinstance(b, ValType):
            raise _Mismatch(f"expected {_kind(b)}, found {_kind(a)}")
        raise _Mismatch(f"expected {_kind(b)} type, found {_kind(a)} type")


def check_extern(a: Extern, b: Extern, m: ResMap, abstract: Set[ResourceType]) -> None:
    """An entity of type ``a`` can be supplied where ``b`` is expected."""
    if a.sort != b.sort:
        raise _Mismatch(f"expected {b.sort}, found {a.sort}")
    if a.sort == "func":
        assert isinstance(a.type, FuncType) and isinstance(b.type, FuncType)
        check_functype(a.type, b.type, m)
    elif a.sort == "value":
        check_valtype(_ov(a.type), _ov(b.type), m)
    elif a.sort == "core module":
        assert isinstance(a.type, CoreModuleType) and isinstance(b.type, CoreModuleType)
        check_module(a.type, b.type)
    else:
        check_type(a.type, b.type, m, abstract)


def check_instance(a: InstanceType, b: InstanceType, m: ResMap,
                   abstract: Set[ResourceType]) -> None:
    for name, be in b.exports:
        ae = a.export(name)
        if ae is None:
            raise _Mismatch(f"missing expected export `{name}`")
        try:
            check_extern(ae, be, m, abstract | set(b.defined))
        except _Mismatch as e:
            raise e.within(f"type mismatch in instance export `{name}`") from None


def check_component(a: ComponentType, b: ComponentType, m: ResMap) -> None:
    """Component subtyping: ``a`` needs no more imports than ``b`` offers, and offers at least
    the exports ``b`` promises."""
    inner: ResMap = dict(m)
    for name, ae in a.imports:
        be = b.import_(name)
        if be is None:
            raise _Mismatch(f"missing expected import `{name}`")
        try:
            check_extern(be, ae, inner, set(a.imported))
        except _Mismatch as e:
            raise e.within(f"type mismatch in import `{name}`") from None
    # a's imported resources now stand for b's (contravariance): compare the exports with
    # them renamed; b's defined resources match a's.
    out: ResMap = dict(m)
    for name, be in b.exports:
        aex = a.export(name)
        if aex is None:
            raise _Mismatch(f"missing expected export `{name}`")
        try:
            check_extern(_e(subst(aex, inner)), be, out, set(b.defined))
        except _Mismatch as e:
            raise e.within(f"type mismatch in export `{name}`") from None


def _core_desc(t: CoreExtern) -> str:
    return t.kind


def check_core_extern(a: CoreExtern, b: CoreExtern) -> None:
    if a.kind != b.kind:
        raise _Mismatch(f"expected {b.kind}, found {a.kind}")
    if a.kind in ("func", "tag"):
        assert isinstance(a.type, CoreFuncType) and isinstance(b.type, CoreFuncType)
        if (tuple(a.type.params), tuple(a.type.results)) != (tuple(b.type.params),
                                                             tuple(b.type.results)):
            raise _Mismatch(f"type mismatch: expected: {_core_func_text(b.type)}, "
                            f"found: {_core_func_text(a.type)}")
    elif a.kind == "table":
        assert isinstance(a.type, TableType) and isinstance(b.type, TableType)
        if a.type.element != b.type.element:
            raise _Mismatch(f"expected table element type {b.type.element}, "
                            f"found {a.type.element}")
        if a.type.is_64 != b.type.is_64 or not limits_match(a.type.limits, b.type.limits):
            raise _Mismatch("mismatch in table limits")
    elif a.kind == "memory":
        assert isinstance(a.type, MemoryType) and isinstance(b.type, MemoryType)
        if a.type.shared != b.type.shared:
            raise _Mismatch("mismatch in the shared flag for memories")
        if a.type.is_64 != b.type.is_64:
            raise _Mismatch("mismatch in index type used for memories")
        if not limits_match(a.type.limits, b.type.limits):
            raise _Mismatch("mismatch in memory limits")
    elif a.kind == "global":
        assert isinstance(a.type, GlobalType) and isinstance(b.type, GlobalType)
        if a.type.mutable != b.type.mutable:
            raise _Mismatch("global types differ in mutability")
        if a.type.content != b.type.content:
            raise _Mismatch(f"expected global type {b.type.content}, found {a.type.content}")


def _core_func_text(t: CoreFuncType) -> str:
    out = "(func"
    if t.params:
        out += " (param " + " ".join(t.params) + ")"
    if t.results:
        out += " (result " + " ".join(t.results) + ")"
    return out + ")"


def check_module(a: CoreModuleType, b: CoreModuleType) -> None:
    for mod, name, be in a.imports:
        found = [e for m2, n2, e in b.imports if (m2, n2) == (mod, name)]
        if not found:
            raise _Mismatch(f"missing expected import `{mod}::{name}`")
        try:
            check_core_extern(found[0], be)
        except _Mismatch as e:
            raise e.within(f"type mismatch in import `{mod}::{name}`") from None
    for name, be in b.exports:
        found_e = [e for n2, e in a.exports if n2 == name]
        if not found_e:
            raise _Mismatch(f"missing expected export `{name}`")
        try:
            check_core_extern(found_e[0], be)
        except _Mismatch as e:
            raise e.within(f"type mismatch in export `{name}`") from None


# ----- scopes and their index spaces -----

COMPONENT, COMPONENT_TYPE, INSTANCE_TYPE, MODULE_TYPE = "component", "component type", \
    "instance type", "module type"

_NOMINAL = (RecordType, VariantType, EnumType, FlagsType)
#: A token no scope names: the mark of an instance type that uses a type it does not name.
_UNNAMEABLE = object()


@dataclass
class _TypeEntry:
    """A type index: the resolved type, the identity of the index (``tok``) and the nominal
    types (tokens) its structure reaches without passing through a nominal one (``refs``)."""

    type: object
    tok: object
    refs: FrozenSet[object]
    inner: Optional[FrozenSet[object]] = None   # what the definition uses (default: refs)

    @property
    def uses(self) -> FrozenSet[object]:
        return self.refs if self.inner is None else self.inner


@dataclass
class _FuncEntry:
    type: FuncType
    refs: FrozenSet[object]


@dataclass
class _InstanceEntry:
    """An instance index: its type, why it may not be exported (None: it may), whether an
    import or export named it (its types are then named too), and the entries of the type
    indexes its type exports stand for (inline-export instances)."""

    type: InstanceType
    exportable: Optional[str] = None
    named: Optional[str] = None
    toks: Dict[str, _TypeEntry] = field(default_factory=dict)
    structural: bool = False      # from an instantiation: check its types by structure


class _ResourceNames:
    """The names the imports (or the exports) of one scope give to resource types: a
    ``[constructor]``/``[method]``/``[static]`` name must refer to one of them."""

    def __init__(self) -> None:
        self.by_name: Dict[str, ResourceType] = {}
        self.by_resource: Dict[ResourceType, Tuple[str, object]] = {}

    def add(self, name: str, ext: Extern, entry: Optional[_TypeEntry]) -> None:
        if ext.sort == "type" and isinstance(ext.type, ResourceType) and entry is not None:
            self.by_name[name] = ext.type
            # the first name wins: a later alias (WASI's `headers` and `trailers`, `(eq fields)`)
            # does not rename the resource its methods are named after (as wasmparser)
            self.by_resource.setdefault(ext.type, (name, entry.tok))


@dataclass
class _Scope:
    kind: str
    parent: Optional["_Scope"]
    core_types: List[object] = field(default_factory=list)
    core_funcs: List[CoreFuncType] = field(default_factory=list)
    core_tables: List[TableType] = field(default_factory=list)
    core_memories: List[MemoryType] = field(default_factory=list)
    core_globals: List[GlobalType] = field(default_factory=list)
    core_tags: List[CoreFuncType] = field(default_factory=list)
    core_modules: List[CoreModuleType] = field(default_factory=list)
    core_instances: List[Dict[str, CoreExtern]] = field(default_factory=list)
    types: List[_TypeEntry] = field(default_factory=list)
    funcs: List[_FuncEntry] = field(default_factory=list)
    values: List[List[object]] = field(default_factory=list)   # [type, consumed]
    components: List[ComponentType] = field(default_factory=list)
    instances: List[_InstanceEntry] = field(default_factory=list)
    imports: List[Tuple[str, Extern]] = field(default_factory=list)
    exports: List[Tuple[str, Extern]] = field(default_factory=list)
    import_names: _Names = field(default_factory=lambda: _Names("import"))
    export_names: _Names = field(default_factory=lambda: _Names("export"))
    imported_toks: Set[object] = field(default_factory=set)
    exported_toks: Set[object] = field(default_factory=set)
    # Types reached through instances this scope did not name (so their index identity is
    # lost): token -> structure, allowed where an import/export named an equal structure.
    struct_toks: Dict[object, object] = field(default_factory=dict)
    imported_structs: Set[object] = field(default_factory=set)
    exported_structs: Set[object] = field(default_factory=set)
    imported_resources: List[ResourceType] = field(default_factory=list)
    defined_resources: List[ResourceType] = field(default_factory=list)
    local_resources: Set[ResourceType] = field(default_factory=set)
    import_resources: _ResourceNames = field(default_factory=_ResourceNames)
    export_resources: _ResourceNames = field(default_factory=_ResourceNames)
    unnameable: bool = False                # an instance type with an unnamed type in use
    # module type scopes: core imports/exports
    core_imports: List[Tuple[str, str, CoreExtern]] = field(default_factory=list)
    core_exports: List[Tuple[str, CoreExtern]] = field(default_factory=list)


def _index(space: List[Any], idx: int, what: str) -> Any:
    if idx >= len(space):
        raise _Invalid(f"{what} index out of bounds")
    return space[idx]


class _Validator:
    def __init__(self, features: FrozenSet[str],
                 component_features: FrozenSet[str] = frozenset()) -> None:
        self.features = features
        self.component_features = component_features
        # id(type) -> (type, nesting depth, effective size): types share their parts, so
        # measuring once per object keeps validation linear in the binary's size.
        self.measured: Dict[int, Tuple[object, int, int]] = {}
        #: id(component AST) -> its scope, when the caller keeps them (resolve_component)
        self.scopes: Optional[Dict[int, "_Scope"]] = None
        #: ids of the decoded core modules already validated (the module cache or the
        #: validation cache vouches for them: resolve_component's ``validated``)
        self.validated: FrozenSet[int] = frozenset()

    def measure(self, t: object) -> Tuple[int, int]:
        """(nesting depth, effective size) of a value or function type."""
        if t is None:
            return 0, 1
        if isinstance(t, (Primitive, ResourceType)):
            return 1, 1
        got = self.measured.get(id(t))
        if got is not None:
            return got[1], got[2]
        depth, size = 0, 1
        for part in children(t):
            d, n = self.measure(part)
            depth = max(depth, d)
            size += n
        depth += 1
        self.measured[id(t)] = (t, depth, size)
        if depth > MAX_TYPE_DEPTH:
            raise _Invalid("type nesting is too deep")
        if size > MAX_TYPE_NODES:
            raise _Invalid(f"effective type size exceeds the limit of {MAX_TYPE_NODES}")
        return depth, size

    # ----- the component -----

    def component(self, c: ast.Component, parent: Optional[_Scope]) -> ComponentType:
        s = _Scope(COMPONENT, parent)
        for d in c.definitions:
            try:
                self.definition(s, d)
            except _Invalid as e:
                raise ValidationError(e.message, offset=getattr(d, "offset", None)) from None
            except _Mismatch as e:
                raise ValidationError(str(e), offset=getattr(d, "offset", None)) from None
        for v in s.values:
            if not v[1]:
                raise ValidationError("value index was not consumed", offset=c.offset)
        if self.scopes is not None:
            self.scopes[id(c)] = s
        defined = [r for r in resources_in(tuple(e for _, e in s.exports))
                   if r not in s.imported_resources]
        return ComponentType(tuple(s.imports), tuple(s.exports), tuple(s.imported_resources),
                             tuple(defined))

    def definition(self, s: _Scope, d: object) -> None:
        if isinstance(d, ast.CoreModule):
            s.core_modules.append(self.core_module(d.module))
        elif isinstance(d, ast.CoreInstantiate):
            s.core_instances.append(self.core_instantiate(s, d))
        elif isinstance(d, ast.CoreInlineExports):
            s.core_instances.append(self.core_inline(s, d))
        elif isinstance(d, (ast.CoreFuncType, ast.CoreStructType, ast.CoreArrayType,
                            ast.CoreSubType, ast.CoreRecType, ast.CoreModuleType)):
            self.core_type(s, d)
        elif isinstance(d, ast.Component):
            s.components.append(self.component(d, s))
        elif isinstance(d, ast.Instantiate):
            s.instances.append(self.instantiate(s, d))
        elif isinstance(d, ast.InlineExports):
            s.instances.append(self.inline_instance(s, d))
        elif isinstance(d, (ast.AliasExport, ast.AliasCoreExport, ast.AliasOuter)):
            self.alias(s, d)
        elif isinstance(d, (ast.CanonLift, ast.CanonLower, ast.CanonResourceNew,
                            ast.CanonResourceDrop, ast.CanonResourceRep, ast.CanonOther)):
            self.canon(s, d)
        elif isinstance(d, ast.Start):
            self.start(s, d)
        elif isinstance(d, ast.Import):
            self.import_(s, d)
        elif isinstance(d, ast.Export):
            self.export(s, d)
        elif isinstance(d, ast.ValueDef):
            t = self.valtype(s, d.type)
            try:
                read_value(cast(ValType, t.type), d.data)
            except DecodeError as e:
                raise _Invalid(f"invalid value definition: {e}") from None
            s.values.append([t.type, False])
        elif isinstance(d, (ast.Custom, ast.ComponentNames)):
            pass
        else:
            self.type_def(s, d)

    # ----- core -----

    def core_module(self, m: Module) -> CoreModuleType:
        seen: Set[Tuple[str, str]] = set()
        for imp in m.imports:
            key = (imp.module, imp.name)
            if key in seen:
                raise _Invalid(f"duplicate import name `{imp.module}:{imp.name}`")
            seen.add(key)
        if id(m) in self.validated:
            return module_type(m)
        try:
            validate_module(m, features=self.features)
        except (ValidationError, DecodeError) as e:
            raise _Invalid(getattr(e, "reason", str(e))) from None
        return module_type(m)

    def core_instantiate(self, s: _Scope, d: ast.CoreInstantiate) -> Dict[str, CoreExtern]:
        if d.module >= len(s.core_modules):
            raise _Invalid(f"unknown module {d.module}: module index out of bounds")
        mt = s.core_modules[d.module]
        args: Dict[str, Dict[str, CoreExtern]] = {}
        for a in d.args:
            if a.name in args:
                raise _Invalid(f"duplicate module instantiation argument named `{a.name}`")
            if a.sortidx.idx >= len(s.core_instances):
                raise _Invalid(f"unknown instance {a.sortidx.idx}: instance index out of bounds")
            args[a.name] = s.core_instances[a.sortidx.idx]
        for mod, name, expected in mt.imports:
            inst = args.get(mod)
            if inst is None:
                raise _Invalid(f"missing module instantiation argument named `{mod}`")
            actual = inst.get(name)
            if actual is None:
                raise _Invalid(f"module instantiation argument `{mod}` does not export an "
                               f"item named `{name}`")
            try:
                check_core_extern(actual, expected)
            except _Mismatch as e:
                raise e.within(f"type mismatch for export `{name}` of module instantiation "
                               f"argument `{mod}`") from None
        return dict(mt.exports)

    def core_item(self, s: _Scope, sort: str, idx: int) -> CoreExtern:
        if sort == ast.CORE_FUNC:
            return CoreExtern("func", _index(s.core_funcs, idx, "function"))
        if sort == ast.CORE_TABLE:
            return CoreExtern("table", _index(s.core_tables, idx, "table"))
        if sort == ast.CORE_MEMORY:
            return CoreExtern("memory", _index(s.core_memories, idx, "memory"))
        if sort == ast.CORE_GLOBAL:
            return CoreExtern("global", _index(s.core_globals, idx, "global"))
        if sort == ast.CORE_TAG:
            if idx >= len(s.core_tags):
                raise _Invalid(f"unknown tag {idx}: tag index out of bounds")
            return CoreExtern("tag", s.core_tags[idx])
        raise _Invalid(f"a core instance cannot export a {sort}")

    def core_inline(self, s: _Scope, d: ast.CoreInlineExports) -> Dict[str, CoreExtern]:
        out: Dict[str, CoreExtern] = {}
        for e in d.exports:
            if e.name in out:
                raise _Invalid(f"export name `{e.name}` already defined")
            out[e.name] = self.core_item(s, e.sortidx.sort, e.sortidx.idx)
        return out

    def core_type(self, s: _Scope, d: ast.CoreDefType) -> None:
        if isinstance(d, ast.CoreModuleType):
            if s.kind == MODULE_TYPE:
                raise _Invalid("invalid leading byte (0x50) for type definition")
            s.core_types.append(self.module_type_def(s, d))
        elif isinstance(d, ast.CoreFuncType):
            s.core_types.append(CoreFuncType(d.params, d.results))
        elif isinstance(d, ast.CoreRecType):
            for sub in d.subtypes:
                s.core_types.append(self.core_subtype(sub))
        elif isinstance(d, ast.CoreSubType):
            s.core_types.append(self.core_subtype(d))
        else:
            s.core_types.append(d)

    def core_subtype(self, d: ast.CoreSubType) -> object:
        if isinstance(d.comptype, ast.CoreFuncType):
            return CoreFuncType(d.comptype.params, d.comptype.results)
        return d.comptype

    def module_type_def(self, s: _Scope, d: ast.CoreModuleType) -> CoreModuleType:
        ms = _Scope(MODULE_TYPE, s)
        seen: Set[Tuple[str, str]] = set()
        names: Set[str] = set()
        for decl in d.decls:
            if isinstance(decl, CoreImport):
                key = (decl.module, decl.name)
                if key in seen:
                    raise _Invalid(f"duplicate import name `{decl.module}:{decl.name}`")
                seen.add(key)
                ms.core_imports.append((decl.module, decl.name,
                                        self.core_extern(ms, decl.kind, decl.desc)))
            elif isinstance(decl, ast.CoreExportDecl):
                if decl.name in names:
                    raise _Invalid(f"export name `{decl.name}` already defined")
                names.add(decl.name)
                ms.core_exports.append((decl.name, self.core_extern(ms, decl.kind, decl.desc)))
            elif isinstance(decl, ast.CoreOuterAlias):
                target = self.outer_scope(ms, decl.count)
                t = _index(target.core_types, decl.idx, "type")
                if isinstance(t, CoreModuleType):
                    raise _Invalid("cannot alias a module type into a module type")
                ms.core_types.append(t)
            else:
                self.core_type(ms, decl)
        return CoreModuleType(tuple(ms.core_imports), tuple(ms.core_exports))

    def core_extern(self, s: _Scope, kind: str, desc: object) -> CoreExtern:
        if kind in ("func", "tag"):
            assert isinstance(desc, int)
            t = _index(s.core_types, desc, "type")
            if not isinstance(t, CoreFuncType):
                raise _Invalid(f"type index {desc} is not a function type")
            return CoreExtern(kind, t)
        if isinstance(desc, MemoryType):
            bound = (1 << 48) if desc.is_64 else 65536
            lim = desc.limits
            if lim.min > bound or (lim.max is not None and lim.max > bound):
                raise _Invalid(f"memory size must be at most {bound} pages "
                               f"({'256 TiB' if desc.is_64 else '4GiB'})")
            if lim.max is not None and lim.min > lim.max:
                raise _Invalid("size minimum must not be greater than maximum")
        if isinstance(desc, TableType):
            lim = desc.limits
            if lim.max is not None and lim.min > lim.max:
                raise _Invalid("size minimum must not be greater than maximum")
        return CoreExtern(kind, desc)

    # ----- types -----

    def valtype(self, s: _Scope, t: ast.ValType) -> _TypeEntry:
        """A valtype as written: a primitive, or an index of a defined value type."""
        if isinstance(t, str):
            return _TypeEntry(Primitive(t), None, frozenset())
        e = self.type_index(s, t)
        if not isinstance(e.type, ValType):
            raise _Invalid(f"type index {t} is not a defined type")
        return e

    def type_index(self, s: _Scope, idx: int) -> _TypeEntry:
        if idx >= len(s.types):
            raise _Invalid(f"type index out of bounds ({idx})")
        return s.types[idx]

    def resource_index(self, s: _Scope, idx: int) -> _TypeEntry:
        e = self.type_index(s, idx)
        if not isinstance(e.type, ResourceType):
            raise _Invalid(f"type index {idx} is not a resource type")
        return e

    def _refs(self, entries: Iterable[_TypeEntry]) -> FrozenSet[object]:
        out: Set[object] = set()
        for e in entries:
            out |= e.refs
        return frozenset(out)

    def defvaltype(self, s: _Scope, d: ast.DefValType) -> Tuple[ValType, FrozenSet[object]]:
        if isinstance(d, ast.PrimValTypeDef):
            return Primitive(d.name), frozenset()
        if isinstance(d, ast.RecordDef):
            if not d.fields:
                raise _Invalid("record type must have at least one field")
            labels = _Labels("record field", "field")
            fs = []
            for name, t in d.fields:
                labels.add(name)
                fs.append((name, self.valtype(s, t)))
            return (RecordType(tuple((n, _v(e.type)) for n, e in fs)),
                    self._refs(e for _, e in fs))
        if isinstance(d, ast.VariantDef):
            if not d.cases:
                raise _Invalid("variant type must have at least one case")
            labels = _Labels("variant case", "case")
            cs: List[Tuple[str, Optional[_TypeEntry]]] = []
            for name, ct in d.cases:
                labels.add(name)
                cs.append((name, None if ct is None else self.valtype(s, ct)))
            if len(cs) > 0xFFFFFFFF:
                raise _Invalid("variant has too many cases")
            return (VariantType(tuple((n, None if e is None else _v(e.type)) for n, e in cs)),
                    self._refs(e for _, e in cs if e is not None))
        if isinstance(d, ast.ListDef):
            e = self.valtype(s, d.element)
            if d.length is not None and d.length == 0:
                raise _Invalid("Fixed size lists must have more than zero elements")
            return ListType(_v(e.type), d.length), e.refs
        if isinstance(d, ast.TupleDef):
            if not d.types:
                raise _Invalid("tuple type must have at least one type")
            es = [self.valtype(s, t) for t in d.types]
            return TupleType(tuple(_v(e.type) for e in es)), self._refs(es)
        if isinstance(d, ast.FlagsDef):
            if not d.labels:
                raise _Invalid("flags must have at least one entry")
            if len(d.labels) > 32:
                raise _Invalid("cannot have more than 32 flags")
            labels = _Labels("flag", "flag")
            for name in d.labels:
                labels.add(name)
            return FlagsType(tuple(d.labels)), frozenset()
        if isinstance(d, ast.EnumDef):
            if not d.labels:
                raise _Invalid("enum type must have at least one variant")
            labels = _Labels("enum tag", "tag")
            for name in d.labels:
                labels.add(name)
            return EnumType(tuple(d.labels)), frozenset()
        if isinstance(d, ast.OptionDef):
            e = self.valtype(s, d.type)
            return OptionType(_v(e.type)), e.refs
        if isinstance(d, ast.ResultDef):
            ok = None if d.ok is None else self.valtype(s, d.ok)
            err = None if d.err is None else self.valtype(s, d.err)
            return (ResultType(None if ok is None else _v(ok.type),
                               None if err is None else _v(err.type)),
                    self._refs(e for e in (ok, err) if e is not None))
        if isinstance(d, (ast.OwnDef, ast.BorrowDef)):
            r = self.resource_index(s, d.type)
            assert isinstance(r.type, ResourceType)
            cls = OwnType if isinstance(d, ast.OwnDef) else BorrowType
            return cls(r.type), frozenset({r.tok})
        if isinstance(d, (ast.StreamDef, ast.FutureDef)):
            pe = None if d.type is None else self.valtype(s, d.type)
            if pe is not None and _contains_borrow(pe.type):
                raise _Invalid("stream and future payloads cannot contain a `borrow` type")
            if isinstance(d, ast.StreamDef) and pe is not None and pe.type == Primitive("char"):
                raise _Invalid("`stream<char>` is not valid at this time")
            el = None if pe is None else _v(pe.type)
            return ((StreamType(el) if isinstance(d, ast.StreamDef) else FutureType(el)),
                    frozenset() if pe is None else pe.refs)
        # (map k v): validated as the list of (k, v) pairs it is lifted and lowered as.
        k = self.valtype(s, d.key)
        v = self.valtype(s, d.value)
        return (ListType(TupleType((_v(k.type), _v(v.type)))), k.refs | v.refs)

    def type_def(self, s: _Scope, d: object) -> None:
        tok = object()
        if isinstance(d, ast.FuncTypeDef):
            ft, refs = self.functype(s, d)
            s.types.append(_TypeEntry(ft, tok, refs))
        elif isinstance(d, ast.ComponentTypeDef):
            ct = self.component_type(s, d)
            s.types.append(_TypeEntry(ct, tok, frozenset()))
        elif isinstance(d, ast.InstanceTypeDef):
            it, bad = self.instance_type(s, d)
            s.types.append(_TypeEntry(it, tok, frozenset({_UNNAMEABLE}) if bad else frozenset()))
        elif isinstance(d, ast.ResourceTypeDef):
            if s.kind != COMPONENT:
                raise _Invalid("resources can only be defined within a concrete component")
            if d.rep != "i32":
                raise _Invalid("resources can only be represented by `i32`")
            if d.dtor is not None:
                f = _index(s.core_funcs, d.dtor, "function")
                assert isinstance(f, CoreFuncType)
                if tuple(f.params) != ("i32",) or tuple(f.results):
                    raise _Invalid("wrong signature for a destructor")
            r = ResourceType(rep=d.rep)
            s.local_resources.add(r)
            s.types.append(_TypeEntry(r, tok, frozenset({tok}), frozenset()))
        else:
            assert isinstance(d, (ast.PrimValTypeDef, ast.RecordDef, ast.VariantDef, ast.ListDef,
                                  ast.TupleDef, ast.FlagsDef, ast.EnumDef, ast.OptionDef,
                                  ast.ResultDef, ast.OwnDef, ast.BorrowDef, ast.StreamDef,
                                  ast.FutureDef, ast.MapDef))
            t, refs = self.defvaltype(s, d)
            self.measure(t)
            _check_size(t)
            if isinstance(t, _NOMINAL):
                s.types.append(_TypeEntry(t, tok, frozenset({tok}), refs))
            else:
                s.types.append(_TypeEntry(t, tok, refs))

    def functype(self, s: _Scope, d: ast.FuncTypeDef) -> Tuple[FuncType, FrozenSet[object]]:
        labels = _Labels("function parameter", "parameter")
        ps = []
        for name, t in d.params:
            labels.add(name)
            ps.append((name, self.valtype(s, t)))
        res = None if d.result is None else self.valtype(s, d.result)
        if res is not None and _contains_borrow(res.type):
            raise _Invalid("function result cannot contain a `borrow` type")
        ft = FuncType(tuple((n, _v(e.type)) for n, e in ps),
                      None if res is None else _v(res.type), d.is_async)
        self.measure(ft)
        refs = self._refs([e for _, e in ps] + ([res] if res is not None else []))
        return ft, refs

    def component_type(self, s: _Scope, d: ast.ComponentTypeDef) -> ComponentType:
        cs = _Scope(COMPONENT_TYPE, s)
        for decl in d.decls:
            self.decl(cs, decl)
        return ComponentType(tuple(cs.imports), tuple(cs.exports), tuple(cs.imported_resources),
                             tuple(cs.defined_resources))

    def instance_type(self, s: _Scope, d: ast.InstanceTypeDef) -> Tuple[InstanceType, bool]:
        """The instance type and whether it uses a type it does not name (which only an
        import or export of it refuses)."""
        its = _Scope(INSTANCE_TYPE, s)
        for decl in d.decls:
            self.decl(its, decl)
        return InstanceType(tuple(its.exports), tuple(its.defined_resources)), its.unnameable

    def decl(self, s: _Scope, d: object) -> None:
        if isinstance(d, ast.Import):
            self.import_(s, d)
        elif isinstance(d, ast.ExportDecl):
            self.export_decl(s, d)
        elif isinstance(d, (ast.AliasExport, ast.AliasCoreExport, ast.AliasOuter)):
            if isinstance(d, ast.AliasCoreExport) or (
                    isinstance(d, ast.AliasExport) and d.sort not in (ast.TYPE, ast.INSTANCE)):
                raise _Invalid("export aliases in type declarations may only refer to types or "
                               "instances")
            if isinstance(d, ast.AliasOuter) and d.sort not in (ast.TYPE, ast.CORE_TYPE):
                raise _Invalid("outer aliases in type declarations may only refer to types or "
                               "instances")
            self.alias(s, d)
        elif isinstance(d, (ast.CoreFuncType, ast.CoreStructType, ast.CoreArrayType,
                            ast.CoreSubType, ast.CoreRecType, ast.CoreModuleType)):
            self.core_type(s, d)
        else:
            self.type_def(s, d)

    # ----- extern types -----

    def extern_desc(self, s: _Scope, d: ast.ExternDesc) -> Tuple[Extern, Optional[_TypeEntry]]:
        """The extern type of a desc, and for ``type`` descs the new type index's entry."""
        if d.sort == ast.CORE_MODULE:
            assert d.idx is not None
            t = _index(s.core_types, d.idx, "core type")
            if not isinstance(t, CoreModuleType):
                raise _Invalid(f"core type index {d.idx} is not a module type")
            return Extern("core module", t), None
        if d.sort == ast.FUNC:
            assert d.idx is not None
            e = self.type_index(s, d.idx)
            if not isinstance(e.type, FuncType):
                raise _Invalid(f"type index {d.idx} is not a function type")
            return Extern("func", e.type), e
        if d.sort == ast.COMPONENT:
            assert d.idx is not None
            e = self.type_index(s, d.idx)
            if not isinstance(e.type, ComponentType):
                raise _Invalid(f"type index {d.idx} is not a component type")
            return Extern("component", e.type), e
        if d.sort == ast.INSTANCE:
            assert d.idx is not None
            e = self.type_index(s, d.idx)
            if not isinstance(e.type, InstanceType):
                raise _Invalid(f"type index {d.idx} is not an instance type")
            return Extern("instance", e.type), e
        if d.sort == ast.VALUE:
            if isinstance(d.bound, ast.Eq):
                v = _index(s.values, d.bound.idx, "value")
                assert isinstance(v, list)
                return Extern("value", v[0]), None
            assert d.bound is not None and not isinstance(d.bound, ast.SubResource)
            e = self.valtype(s, d.bound)
            return Extern("value", e.type), e
        # type
        if isinstance(d.bound, ast.Eq):
            e = self.type_index(s, d.bound.idx)
            return Extern("type", e.type), e
        return Extern("type", ResourceType()), None

    def check_named(self, s: _Scope, refs: FrozenSet[object], allowed: Set[object],
                    what: str, sort: str) -> None:
        structs = s.imported_structs if what == "import" else \
            s.imported_structs | s.exported_structs
        for r in refs:
            if r not in allowed and not (r in s.struct_toks and s.struct_toks[r] in structs):
                if s.kind == INSTANCE_TYPE:
                    # Instance types defer the check until an import or export uses them.
                    s.unnameable = True
                    return
                raise _Invalid(f"{sort} not valid to be used as {what}")

    def name_rules(self, s: _Scope, name: ast.ExternName, ext: Extern, what: str,
                   refs: FrozenSet[object], names: "_ResourceNames") -> str:
        try:
            kind = check_extern_name(name.name)
        except _Invalid as e:
            raise _Invalid(f"{what} name `{name.name}` is not a valid extern name: "
                           f"{e.message}") from None
        seen_kinds: Set[str] = set()
        for k, v in name.attributes:
            if k in seen_kinds:
                raise _Invalid(f"duplicate '{k}' option in name")
            seen_kinds.add(k)
            if k == ast.IMPLEMENTS:
                if "cm-implements" not in self.component_features:
                    raise _Invalid("the `cm-implements` feature is not active")
                if ext.sort != "instance":
                    raise _Invalid("only instances can have an `implements` attribute")
                if kind != "plain":
                    raise _Invalid(f"name `{name.name}` is not valid with `implements`")
                try:
                    vk = check_extern_name(v)
                except _Invalid as e:
                    raise _Invalid(f"`{v}` is not a valid name: {e.message}: "
                                   "`implements` must be an interface name") from None
                if vk != "interface":
                    raise _Invalid(f"`{v}` must be an interface name")
            elif k == ast.VERSION_SUFFIX:
                self.version_suffix(name.name, v)
        if kind in ("constructor", "method", "static"):
            if ext.sort != "func":
                raise _Invalid(f"`{name.name}` is not a func: only functions may be annotated")
            assert isinstance(ext.type, FuncType)
            self.annotated(names, name.name, kind, ext.type, refs)
        return kind

    def version_suffix(self, name: str, suffix: str) -> None:
        at = name.find("@")
        if at < 0:
            raise _Invalid(f"`{name}` has a version suffix but no version")
        check_semver(name[at + 1:] + suffix)

    def annotated(self, names: "_ResourceNames", name: str, kind: str, ft: FuncType,
                  refs: FrozenSet[object]) -> None:
        """The rules of ``[constructor]``, ``[method]`` and ``[static]`` names."""
        body = name[name.index("]") + 1:]
        rname = body if kind == "constructor" else body[:body.index(".")]
        if kind == "static":
            if rname not in names.by_name:
                raise _Invalid(f"static resource name is not known in this context: `{rname}`")
            return
        if kind == "constructor":
            res = ft.result
            if res is None:
                raise _Invalid("function should return one value")
            if isinstance(res, ResultType) and isinstance(res.ok, OwnType):
                r = res.ok.resource
            elif isinstance(res, OwnType):
                r = res.resource
            else:
                raise _Invalid("function should return `(own $T)` or `(result (own $T))`")
        else:
            if not ft.params:
                raise _Invalid("function should have at least one argument")
            pname, ptype = ft.params[0]
            if pname != "self":
                raise _Invalid("function should have a first argument called `self`")
            if not isinstance(ptype, BorrowType):
                raise _Invalid("function should take a first argument of `(borrow $T)`")
            r = ptype.resource
        named = names.by_resource.get(r)
        if named is None or named[1] not in refs:
            raise _Invalid("resource used in function does not have a name in this context")
        if named[0] != rname:
            raise _Invalid(f"function does not match expected resource name `{named[0]}`")

    # ----- imports and exports -----

    def import_(self, s: _Scope, d: ast.Import) -> None:
        ext, entry = self.extern_desc(s, d.desc)
        name = d.name.name
        if ext.sort == "type" and isinstance(ext.type, ResourceType) and entry is None:
            s.imported_resources.append(ext.type)
        if ext.sort == "instance":
            assert isinstance(ext.type, InstanceType)
            m = fresh(ext.type.defined)
            ext = Extern("instance", subst(ext.type, m))
            s.imported_resources.extend(m.values())
        refs = self.extern_refs(ext, entry)
        self.check_named(s, refs, s.imported_toks, "import", _sort_word(ext.sort))
        self.name_rules(s, d.name, ext, "import", refs, s.import_resources)
        s.import_names.add(name)
        s.imports.append((name, ext))
        new = self.add_entity(s, ext, entry, s.imported_toks, "import")
        s.import_resources.add(name, ext, new)

    def extern_refs(self, ext: Extern, entry: Optional[_TypeEntry]) -> FrozenSet[object]:
        if entry is None:
            return frozenset()
        if ext.sort in ("func", "value"):
            return entry.refs
        return entry.uses

    def add_entity(self, s: _Scope, ext: Extern, entry: Optional[_TypeEntry],
                   names: Set[object], named: Optional[str] = None) -> Optional[_TypeEntry]:
        """Add the imported or exported entity ``ext`` to its index space (exports define a
        new index too); returns the new type index's entry for a type."""
        if ext.sort == "func":
            assert isinstance(ext.type, FuncType)
            s.funcs.append(_FuncEntry(ext.type, entry.refs if entry else frozenset()))
        elif ext.sort == "value":
            # an export's new value index counts as consumed (as wasmparser's), or no value
            # could ever be exported
            s.values.append([ext.type, named == "export"])
        elif ext.sort == "type":
            tok = object()
            names.add(tok)
            if named == "import":
                s.imported_structs.add(ext.type)
            elif named == "export":
                s.exported_structs.add(ext.type)
            if isinstance(ext.type, _NOMINAL + (ResourceType,)):
                new = _TypeEntry(ext.type, tok, frozenset({tok}),
                                 entry.uses if entry else frozenset())
            else:
                new = _TypeEntry(ext.type, tok, entry.refs if entry else frozenset(),
                                 entry.inner if entry else None)
            s.types.append(new)
            return new
        elif ext.sort == "component":
            assert isinstance(ext.type, ComponentType)
            s.components.append(ext.type)
        elif ext.sort == "instance":
            assert isinstance(ext.type, InstanceType)
            s.instances.append(_InstanceEntry(ext.type, named=named))
            structs = s.imported_structs if named == "import" else s.exported_structs
            for t in _exported_types(ext.type):
                structs.add(t)
        else:
            assert isinstance(ext.type, CoreModuleType)
            s.core_modules.append(ext.type)
        return None

    def export_decl(self, s: _Scope, d: ast.ExportDecl) -> None:
        ext, entry = self.extern_desc(s, d.desc)
        if ext.sort == "type" and isinstance(ext.type, ResourceType) and entry is None:
            s.defined_resources.append(ext.type)
        if ext.sort == "instance":
            assert isinstance(ext.type, InstanceType)
            m = fresh(ext.type.defined)
            ext = Extern("instance", subst(ext.type, m))
            s.defined_resources.extend(m.values())
        refs = self.extern_refs(ext, entry)
        self.check_named(s, refs, s.imported_toks | s.exported_toks, "export",
                         _sort_word(ext.sort))
        self.name_rules(s, d.name, ext, "export", refs, s.export_resources)
        s.export_names.add(d.name.name)
        s.exports.append((d.name.name, ext))
        new = self.add_entity(s, ext, entry, s.exported_toks, "export")
        s.export_resources.add(d.name.name, ext, new)

    def sort_item(self, s: _Scope, si: ast.SortIdx) -> Tuple[Extern, FrozenSet[object],
                                                              Optional[str]]:
        """The extern type of ``(sort idx)``, the nominal types it uses, and why it may not
        be exported (None when it may)."""
        sort, idx = si.sort, si.idx
        if sort == ast.FUNC:
            f = _index(s.funcs, idx, "func")
            assert isinstance(f, _FuncEntry)
            return Extern("func", f.type), f.refs, None
        if sort == ast.TYPE:
            e = self.type_index(s, idx)
            return Extern("type", e.type), e.uses, None
        if sort == ast.COMPONENT:
            c = _index(s.components, idx, "component")
            return Extern("component", c), frozenset(), None
        if sort == ast.INSTANCE:
            i = _index(s.instances, idx, "instance")
            assert isinstance(i, _InstanceEntry)
            return Extern("instance", i.type), frozenset(), i.exportable
        if sort == ast.VALUE:
            v = _index(s.values, idx, "value")
            assert isinstance(v, list)
            if v[1]:
                raise _Invalid(f"value {idx} has already been consumed")
            v[1] = True
            return Extern("value", v[0]), frozenset(), None
        if sort == ast.CORE_MODULE:
            m = _index(s.core_modules, idx, "module")
            return Extern("core module", m), frozenset(), None
        raise _Invalid(f"{sort} is not a valid kind for an export")

    def export(self, s: _Scope, d: ast.Export) -> None:
        try:
            ext, refs, why = self.sort_item(s, d.sortidx)
        except _Invalid as e:
            if "index out of bounds" in e.message:
                raise _Invalid(f"unknown {d.sortidx.sort}: {e.message}") from None
            raise
        entry = None
        if d.desc is not None:
            ascribed, entry = self.extern_desc(s, d.desc)
            try:
                check_extern(ext, ascribed, {}, set())
            except _Mismatch as e:
                raise e.within("ascribed type of export is not compatible with item's type") \
                    from None
            ext = ascribed
            refs = self.extern_refs(ascribed, entry)
            why = None
            if ext.sort == "instance" and entry is not None and entry.uses:
                why = "instance not valid to be used as export"
        if why is not None:
            raise _Invalid(why)
        if d.desc is None and ext.sort == "instance" and d.sortidx.sort == ast.INSTANCE:
            inst = s.instances[d.sortidx.idx]
            assert isinstance(ext.type, InstanceType)
            if inst.structural and not self.structural_exportable(s, ext.type, "export"):
                raise _Invalid("instance not valid to be used as export")
        self.check_named(s, refs, s.imported_toks | s.exported_toks, "export",
                         _sort_word(ext.sort))
        self.name_rules(s, d.name, ext, "export", refs, s.export_resources)
        s.export_names.add(d.name.name)
        s.exports.append((d.name.name, ext))
        if entry is None and ext.sort == "type":
            entry = self.type_index(s, d.sortidx.idx)
        new = self.add_entity(s, ext, entry, s.exported_toks, "export")
        s.export_resources.add(d.name.name, ext, new)

    # ----- instances -----

    def instantiate(self, s: _Scope, d: ast.Instantiate) -> _InstanceEntry:
        if d.component >= len(s.components):
            raise _Invalid(f"unknown component {d.component}: component index out of bounds")
        ct = s.components[d.component]
        args: Dict[str, Extern] = {}
        names = _Names("instantiation argument")
        for a in d.args:
            key = canonical_name(a.name)
            if key in names.seen:
                raise _Invalid(f"instantiation argument `{a.name}` conflicts with previous "
                               f"argument `{names.seen[key]}`")
            names.seen[key] = a.name
            ext, _, _ = self.sort_item(s, a.sortidx)
            args[a.name] = ext
        m: ResMap = {}
        abstract = set(ct.imported)
        for name, expected in ct.imports:
            actual = args.get(name)
            if actual is None:
                raise _Invalid(f"missing import named `{name}`")
            try:
                check_extern(actual, expected, m, abstract)
            except _Mismatch as e:
                raise e.within(f"type mismatch for component instantiation argument `{name}`") \
                    from None
        m.update(fresh(ct.defined))
        it = InstanceType(tuple((n, _e(subst(e, m))) for n, e in ct.exports))
        return self.new_instance(s, it, None)

    def new_instance(self, s: _Scope, it: InstanceType, why: Optional[str]) -> _InstanceEntry:
        return _InstanceEntry(it, why, structural=True)

    def structural_entry(self, s: _Scope, t: object, tok: object) -> _TypeEntry:
        """The entry of a type reached through an instance this scope did not name: its
        nominal parts get tokens standing for their structure."""
        def toks(items: List[object]) -> FrozenSet[object]:
            out = set()
            for n in items:
                k = object()
                s.struct_toks[k] = n
                out.add(k)
            return frozenset(out)
        if isinstance(t, _NOMINAL + (ResourceType,)):
            s.struct_toks[tok] = t
            return _TypeEntry(t, tok, frozenset({tok}), toks(_nominals(t, inner=True)))
        return _TypeEntry(t, tok, toks(_nominals(t)))

    def structural_exportable(self, s: _Scope, it: InstanceType, what: str) -> bool:
        """Whether every record, variant, enum, flags or resource the instance's exports use
        is one it exports as a type or one this scope named (by structure)."""
        structs = s.imported_structs if what == "import" else \
            s.imported_structs | s.exported_structs
        own = set(_exported_types(it))
        for _, e in _all_exports(it):
            for n in _nominals(e.type, inner=e.sort == "type"):
                if n not in own and n not in structs:
                    return False
        return True

    def inline_instance(self, s: _Scope, d: ast.InlineExports) -> _InstanceEntry:
        """A bag of exports: its type exports name their types within the instance, so the
        functions it exports may use those (new) names only."""
        exports: List[Tuple[str, Extern]] = []
        names = _Names("export")
        why: Optional[str] = None
        toks: Dict[str, _TypeEntry] = {}
        allowed = set(s.imported_toks | s.exported_toks)
        structs = set(s.imported_structs | s.exported_structs)
        rnames = _ResourceNames()
        uses: List[FrozenSet[object]] = []
        for e in d.exports:
            ext, refs, item_why = self.sort_item(s, e.sortidx)
            if item_why is not None:
                why = why or item_why
            uses.append(refs)
            self.name_rules(s, e.name, ext, "export", refs, rnames)
            names.add(e.name.name)
            exports.append((e.name.name, ext))
            if ext.sort == "type":
                old = self.type_index(s, e.sortidx.idx)
                tok = object()
                allowed.add(tok)
                structs.add(ext.type)
                new = _TypeEntry(ext.type, tok, frozenset({tok}), old.uses) \
                    if isinstance(ext.type, _NOMINAL + (ResourceType,)) else old
                toks[e.name.name] = new
                rnames.add(e.name.name, ext, new)
            elif ext.sort == "instance":
                inner = s.instances[e.sortidx.idx]
                for t in inner.toks.values():
                    allowed.add(t.tok)
                assert isinstance(ext.type, InstanceType)
                structs.update(_exported_types(ext.type))
        for refs in uses:
            for r in refs:
                if r not in allowed and not (r in s.struct_toks and s.struct_toks[r] in structs):
                    why = why or "instance not valid to be used as export"
        return _InstanceEntry(InstanceType(tuple(exports)), why, toks=toks)

    # ----- aliases -----

    def outer_scope(self, s: _Scope, count: int) -> _Scope:
        target: Optional[_Scope] = s
        for _ in range(count):
            assert target is not None
            target = target.parent
            if target is None:
                raise _Invalid(f"invalid outer alias count of {count}")
        assert target is not None
        return target

    def alias(self, s: _Scope, d: ast.Alias) -> None:
        if isinstance(d, ast.AliasOuter):
            self.alias_outer(s, d)
        elif isinstance(d, ast.AliasCoreExport):
            inst = _index(s.core_instances, d.instance, "core instance")
            assert isinstance(inst, dict)
            e = inst.get(d.name)
            if e is None:
                raise _Invalid(f"core instance {d.instance} has no export named `{d.name}`")
            want = {ast.CORE_FUNC: "func", ast.CORE_TABLE: "table", ast.CORE_MEMORY: "memory",
                    ast.CORE_GLOBAL: "global", ast.CORE_TAG: "tag"}.get(d.sort)
            if want != e.kind:
                raise _Invalid(f"export `{d.name}` for core instance {d.instance} is not a "
                               f"{(want or d.sort)}")
            spaces: Dict[str, List[Any]] = {
                "func": s.core_funcs, "table": s.core_tables, "memory": s.core_memories,
                "global": s.core_globals, "tag": s.core_tags}
            spaces[e.kind].append(e.type)
        else:
            if d.instance >= len(s.instances):
                raise _Invalid(f"unknown instance {d.instance}: instance index out of bounds")
            inst = s.instances[d.instance]
            assert isinstance(inst, _InstanceEntry)
            ext = inst.type.export(d.name)
            if ext is None:
                raise _Invalid(f"instance {d.instance} has no export named `{d.name}`")
            sort = {"core module": ast.CORE_MODULE}.get(ext.sort, ext.sort)
            if sort != d.sort:
                raise _Invalid(f"export `{d.name}` for instance {d.instance} is not a "
                               f"{_sort_word(d.sort)}")
            if ext.sort == "type":
                entry = inst.toks.get(d.name)
                if entry is None:
                    tok = object()
                    if inst.named == "import":
                        s.imported_toks.add(tok)
                        s.imported_structs.add(ext.type)
                        entry = _TypeEntry(ext.type, tok, frozenset({tok}), frozenset())
                    elif inst.named == "export":
                        s.exported_toks.add(tok)
                        s.exported_structs.add(ext.type)
                        entry = _TypeEntry(ext.type, tok, frozenset({tok}), frozenset())
                    else:
                        entry = self.structural_entry(s, ext.type, tok)
                    inst.toks[d.name] = entry
                s.types.append(entry)
            else:
                self.add_entity(s, ext, None, set(), inst.named)
                if ext.sort == "instance" and inst.named is None:
                    s.instances[-1].structural = True

    def alias_outer(self, s: _Scope, d: ast.AliasOuter) -> None:
        target = self.outer_scope(s, d.count)
        crosses = False
        scope: Optional[_Scope] = s
        for _ in range(d.count):
            assert scope is not None
            if scope.kind == COMPONENT:
                crosses = True
            scope = scope.parent
        if d.sort == ast.TYPE:
            e = self.type_index(target, d.idx)
            if crosses and resources_in(e.type):
                raise _Invalid("type index transitively refers to resources not defined in the "
                               "current component")
            s.types.append(e)
            # A name given in an enclosing type scope still names it here; one given in an
            # enclosing component does not (it is the other component's name).
            if not crosses and (e.tok in target.imported_toks or e.tok in target.exported_toks):
                s.imported_toks.add(e.tok)
        elif d.sort == ast.CORE_TYPE:
            t = _index(target.core_types, d.idx, "core type")
            if s.kind == MODULE_TYPE and isinstance(t, CoreModuleType):
                raise _Invalid("cannot alias a module type into a module type")
            s.core_types.append(t)
        elif d.sort == ast.CORE_MODULE:
            s.core_modules.append(_index(target.core_modules, d.idx, "module"))
        elif d.sort == ast.COMPONENT:
            s.components.append(_index(target.components, d.idx, "component"))
        else:
            raise _Invalid("outer aliases may only refer to types, modules and components")

    # ----- canon -----

    def canon(self, s: _Scope, d: ast.Canon) -> None:
        if isinstance(d, ast.CanonLift):
            e = self.type_index(s, d.type)
            if not isinstance(e.type, FuncType):
                raise _Invalid(f"type index {d.type} is not a function type")
            ft = e.type
            core = _index(s.core_funcs, d.core_func, "function")
            assert isinstance(core, CoreFuncType)
            self.canon_opts(s, d.opts, ft, "lift", core)
            kinds = {o.kind for o in d.opts}
            flat = _core_functype(ft, "lift", self.pointer_type(s, d.opts), ast.ASYNC in kinds,
                                  ast.CALLBACK in kinds)
            if tuple(core.params) != tuple(flat.params):
                raise _Invalid(f"lowered parameter types `{_rs(flat.params)}` do not match "
                               f"parameter types `{_rs(core.params)}` of core function "
                               f"{d.core_func}")
            if tuple(core.results) != tuple(flat.results):
                raise _Invalid(f"lowered result types `{_rs(flat.results)}` do not match "
                               f"result types `{_rs(core.results)}` of core function "
                               f"{d.core_func}")
            s.funcs.append(_FuncEntry(ft, e.refs))
        elif isinstance(d, ast.CanonLower):
            f = _index(s.funcs, d.func, "function")
            assert isinstance(f, _FuncEntry)
            self.canon_opts(s, d.opts, f.type, "lower", None)
            s.core_funcs.append(_core_functype(f.type, "lower", self.pointer_type(s, d.opts),
                                               any(o.kind == ast.ASYNC for o in d.opts)))
        elif isinstance(d, ast.CanonResourceNew):
            r = self.resource_index(s, d.type)
            if r.type not in s.local_resources:
                raise _Invalid(f"type {d.type} is not a local resource")
            s.core_funcs.append(CoreFuncType(["i32"], ["i32"]))
        elif isinstance(d, ast.CanonResourceRep):
            r = self.resource_index(s, d.type)
            if r.type not in s.local_resources:
                raise _Invalid(f"type {d.type} is not a local resource")
            s.core_funcs.append(CoreFuncType(["i32"], ["i32"]))
        elif isinstance(d, ast.CanonResourceDrop):
            self.resource_index(s, d.type)
            s.core_funcs.append(CoreFuncType(["i32"], []))
        else:
            self.canon_other(s, d)

    def canon_other(self, s: _Scope, d: ast.CanonOther) -> None:
        """The async, stream, future, error-context and thread built-ins (their semantics
        are a later issue): the core function type each defines, so the index space and
        the types seen by instantiation are right; their operands are checked loosely."""
        name = d.name
        imms = d.immediates
        if name == "context.get":
            t = CoreFuncType([], [str(imms[0])])
        elif name == "context.set":
            t = CoreFuncType([str(imms[0])], [])
        elif name == "task.return":
            res = imms[0]
            assert res is None or isinstance(res, (int, str))
            rt = None if res is None else self.valtype(s, res).type
            params = _flat(_ov(rt))
            t = CoreFuncType(list(params) if len(params) <= layout.MAX_FLAT_PARAMS else ["i32"], [])
        else:
            t = _BUILTIN_TYPES.get(name, CoreFuncType(["i32"], ["i32"]))
        s.core_funcs.append(t)

    def pointer_type(self, s: _Scope, opts: List[ast.CanonOpt]) -> str:
        """i64 when the ``memory`` option names a 64-bit memory, else i32."""
        for o in opts:
            if o.kind == ast.MEMORY and (o.idx or 0) < len(s.core_memories):
                return "i64" if s.core_memories[o.idx or 0].is_64 else "i32"
        return "i32"

    def canon_opts(self, s: _Scope, opts: List[ast.CanonOpt], ft: FuncType, context: str,
                   core: Optional[CoreFuncType]) -> None:
        encoding: Optional[str] = None
        seen: Dict[str, ast.CanonOpt] = {}
        for o in opts:
            if o.kind in (ast.UTF8, ast.UTF16, ast.LATIN1_UTF16):
                if encoding is not None:
                    raise _Invalid(f"canonical encoding option `{_enc(encoding)}` conflicts "
                                   f"with option `{_enc(o.kind)}`")
                encoding = o.kind
                continue
            if o.kind in seen:
                if o.kind == ast.MEMORY:
                    raise _Invalid("`memory` is specified more than once")
                raise _Invalid(f"canonical option `{o.kind}` is specified more than once")
            seen[o.kind] = o
        ptr = "i32"
        if ast.MEMORY in seen:
            mi = seen[ast.MEMORY].idx or 0
            if mi >= len(s.core_memories):
                raise _Invalid(f"unknown memory {mi}: memory index out of bounds")
            if s.core_memories[mi].is_64:
                ptr = "i64"
        if ast.REALLOC in seen:
            ri = seen[ast.REALLOC].idx or 0
            rf = _index(s.core_funcs, ri, "function")
            assert isinstance(rf, CoreFuncType)
            if tuple(rf.params) != (ptr,) * 4 or tuple(rf.results) != (ptr,):
                raise _Invalid("canonical option `realloc` uses a core function with an "
                               "incorrect signature")
            if ast.MEMORY not in seen:
                raise _Invalid("canonical option `realloc` requires `memory` to also be specified")
        if ast.POST_RETURN in seen:
            if context == "lower":
                raise _Invalid("canonical option `post-return` cannot be specified for lowerings")
            pi = seen[ast.POST_RETURN].idx or 0
            pf = _index(s.core_funcs, pi, "function")
            assert isinstance(pf, CoreFuncType)
            flat = _core_functype(ft, "lift", ptr)
            if tuple(pf.params) != tuple(flat.results) or tuple(pf.results):
                raise _Invalid("canonical option `post-return` uses a core function with an "
                               "incorrect signature")
        is_async = ast.ASYNC in seen
        if is_async and not ft.is_async:
            raise _Invalid("the `async` canonical option requires an async function type")
        if ast.CALLBACK in seen and not is_async:
            raise _Invalid("cannot specify callback without async")
        # Memory (and realloc) needs: CanonicalABI.md "Canonical definitions".
        flat_p = layout.flatten_types([p for _, p in ft.params])
        flat_r = _flat(ft.result)
        params = [p for _, p in ft.params]
        limit = layout.MAX_FLAT_ASYNC_PARAMS if is_async and context == "lower" else layout.MAX_FLAT_PARAMS
        params_mem = any(layout.needs_memory(p) for p in params) or len(flat_p) > limit
        if is_async:
            # An async lift returns through task.return; an async lower writes the result.
            results_mem = context == "lower" and ft.result is not None
        else:
            results_mem = layout.needs_memory(ft.result) or len(flat_r) > layout.MAX_FLAT_RESULTS
        if (params_mem or results_mem) and ast.MEMORY not in seen:
            raise _Invalid("canonical option `memory` is required")
        # realloc: wherever the callee side must allocate (lifted params, lowered results).
        if context == "lift":
            needs_realloc = any(layout.needs_memory(p) for p in params) or len(flat_p) > layout.MAX_FLAT_PARAMS
        else:
            needs_realloc = layout.needs_memory(ft.result)
        if needs_realloc and ast.REALLOC not in seen:
            raise _Invalid("canonical option `realloc` is required")

    # ----- start -----

    def start(self, s: _Scope, d: ast.Start) -> None:
        f = _index(s.funcs, d.func, "function")
        assert isinstance(f, _FuncEntry)
        if len(d.args) != len(f.type.params):
            raise _Invalid(f"component start function requires {len(f.type.params)} "
                           f"arguments but was given {len(d.args)}")
        for (_, pt), vi in zip(f.type.params, d.args):
            v = _index(s.values, vi, "value")
            assert isinstance(v, list)
            if v[1]:
                raise _Invalid(f"value {vi} has already been consumed")
            v[1] = True
            try:
                check_valtype(_ov(v[0]), pt, {})
            except _Mismatch as e:
                raise e.within("mismatched types in start function arguments") from None
        nres = 0 if f.type.result is None else 1
        if d.results != nres:
            raise _Invalid(f"component start function has a result count of {nres} but the "
                           f"function type has a result count of {d.results}")
        if f.type.result is not None:
            s.values.append([f.type.result, False])


# ----- helpers -----

class _Labels:
    """Labels of one record/variant/flags/enum/param list: kebab case, strongly unique."""

    def __init__(self, what: str, short: str) -> None:
        self.what = what
        self.short = short
        self.seen: Dict[str, str] = {}

    def add(self, label: str) -> None:
        if not label:
            raise _Invalid(f"{self.what} name cannot be empty")
        if not is_kebab(label):
            raise _Invalid(f"{self.what} name `{label}` is not in kebab case")
        prev = self.seen.get(label.lower())
        if prev is not None:
            raise _Invalid(f"{self.what} name `{label}` conflicts with previous "
                           f"{self.short} name `{prev}`")
        self.seen[label.lower()] = label


def _sort_word(sort: str) -> str:
    return {"core module": "module"}.get(sort, sort)


def _rs(types: Iterable[str]) -> str:
    """Core value types as wasmparser prints them (``[I32, I64]``)."""
    return "[" + ", ".join(t.upper() if len(t) == 3 else t for t in types) + "]"


def _enc(kind: str) -> str:
    return {"latin1+utf16": "latin1-utf16"}.get(kind, kind)


def _contains_borrow(t: object) -> bool:
    return _borrow(t)


def _borrow(t: object) -> bool:
    if isinstance(t, BorrowType):
        return True
    if isinstance(t, RecordType):
        return any(_borrow(f) for _, f in t.fields)
    if isinstance(t, VariantType):
        return any(c is not None and _borrow(c) for _, c in t.cases)
    if isinstance(t, TupleType):
        return any(_borrow(e) for e in t.elements)
    if isinstance(t, (ListType, StreamType, FutureType)):
        return t.element is not None and _borrow(t.element)
    if isinstance(t, OptionType):
        return _borrow(t.inner)
    if isinstance(t, ResultType):
        return (t.ok is not None and _borrow(t.ok)) or (t.err is not None and _borrow(t.err))
    return False


_I32 = "i32"
#: The core function types of the built-ins with fixed signatures (CanonicalABI.md).
_BUILTIN_TYPES: Dict[str, CoreFuncType] = {
    "task.cancel": CoreFuncType([], []),
    "backpressure.inc": CoreFuncType([], []),
    "backpressure.dec": CoreFuncType([], []),
    "subtask.cancel": CoreFuncType([_I32], [_I32]),
    "subtask.drop": CoreFuncType([_I32], []),
    "stream.new": CoreFuncType([], ["i64"]),
    "future.new": CoreFuncType([], ["i64"]),
    "stream.read": CoreFuncType([_I32, _I32, _I32], [_I32]),
    "stream.write": CoreFuncType([_I32, _I32, _I32], [_I32]),
    "future.read": CoreFuncType([_I32, _I32], [_I32]),
    "future.write": CoreFuncType([_I32, _I32], [_I32]),
    "stream.cancel-read": CoreFuncType([_I32], [_I32]),
    "stream.cancel-write": CoreFuncType([_I32], [_I32]),
    "future.cancel-read": CoreFuncType([_I32], [_I32]),
    "future.cancel-write": CoreFuncType([_I32], [_I32]),
    "stream.drop-readable": CoreFuncType([_I32], []),
    "stream.drop-writable": CoreFuncType([_I32], []),
    "future.drop-readable": CoreFuncType([_I32], []),
    "future.drop-writable": CoreFuncType([_I32], []),
    "error-context.new": CoreFuncType([_I32, _I32], [_I32]),
    "error-context.debug-message": CoreFuncType([_I32, _I32], []),
    "error-context.drop": CoreFuncType([_I32], []),
    "waitable-set.new": CoreFuncType([], [_I32]),
    "waitable-set.wait": CoreFuncType([_I32, _I32], [_I32]),
    "waitable-set.poll": CoreFuncType([_I32, _I32], [_I32]),
    "waitable-set.drop": CoreFuncType([_I32], []),
    "waitable.join": CoreFuncType([_I32, _I32], []),
    "thread.index": CoreFuncType([], [_I32]),
    "thread.new-indirect": CoreFuncType([_I32, _I32], [_I32]),
    "thread.resume-later": CoreFuncType([_I32], []),
    "thread.suspend": CoreFuncType([], [_I32]),
    "thread.yield": CoreFuncType([], [_I32]),
    "thread.suspend-then-resume": CoreFuncType([_I32], [_I32]),
    "thread.yield-then-resume": CoreFuncType([_I32], [_I32]),
    "thread.suspend-then-promote": CoreFuncType([_I32], [_I32]),
    "thread.yield-then-promote": CoreFuncType([_I32], [_I32]),
    "thread.available-parallelism": CoreFuncType([], [_I32]),
}


def _nominals(t: object, inner: bool = False) -> List[object]:
    """The records, variants, enums, flags and resources ``t`` uses, not looking inside
    them (with ``inner``, those ``t`` itself is made of when it is one)."""
    out: List[object] = []

    def walk(x: object, top: bool) -> None:
        if x is None:
            return
        if isinstance(x, _NOMINAL + (ResourceType,)) and not top:
            out.append(x)
            return
        if isinstance(x, (OwnType, BorrowType)):
            out.append(x.resource)
        else:
            for c in children(x):
                walk(c, False)

    walk(t, inner)
    return out


def _exported_types(it: InstanceType) -> List[object]:
    """The types an instance (and the instances it exports) export."""
    return [e.type for _, e in _all_exports(it) if e.sort == "type"]


def _all_exports(it: InstanceType) -> List[Tuple[str, Extern]]:
    out: List[Tuple[str, Extern]] = []
    for n, e in it.exports:
        out.append((n, e))
        if e.sort == "instance" and isinstance(e.type, InstanceType):
            out.extend(_all_exports(e.type))
    return out




def _check_size(t: ValType) -> None:
    try:
        size = layout.elem_size(t, "i64")
    except RecursionError:
        raise _Invalid("type is too deeply nested") from None
    if size >= MAX_TYPE_SIZE:
        raise _Invalid(f"type exceeds maximum byte size of {MAX_TYPE_SIZE} bytes")


def module_type(m: Module) -> CoreModuleType:
    """The type of a (validated) core module: its imports and exports."""
    functypes = m.types
    imports = []
    for imp in m.imports:
        if imp.kind in ("func", "tag"):
            assert isinstance(imp.desc, int)
            imports.append((imp.module, imp.name, CoreExtern(imp.kind, functypes[imp.desc])))
        else:
            imports.append((imp.module, imp.name, CoreExtern(imp.kind, imp.desc)))
    spaces: Dict[str, List[Any]] = {
        "func": m.func_types(), "table": m.table_types(), "memory": m.mem_types(),
        "global": m.global_types(), "tag": m.tag_types()}
    exports = [(e.name, CoreExtern(e.kind, spaces[e.kind][e.index])) for e in m.exports]
    return CoreModuleType(tuple(imports), tuple(exports))


#: The component-model features (its emoji-gated parts) that can be switched off, with the
#: names wasmtime's scripts use: 🏷️ ``implements`` attributes.
COMPONENT_FEATURES: FrozenSet[str] = frozenset({"cm-implements"})


def validate_component(c: ast.Component, *, features: Optional[FrozenSet[str]] = None,
                       component_features: Optional[FrozenSet[str]] = None) -> ComponentType:
    """Validate a decoded component; returns its type (imports and exports).  Nested core
    modules are validated with the proposals ``features`` (default: every implemented one);
    ``component_features`` are the gated parts of the component model allowed (default: all
    of ``COMPONENT_FEATURES``).  Raises ``ValidationError`` naming the rule broken, with the
    byte offset of the definition at fault when the component came from a binary."""
    v = _Validator(features if features is not None else DEFAULT_FEATURES,
                   COMPONENT_FEATURES if component_features is None else component_features)
    try:
        return v.component(c, None)
    except RecursionError:
        raise ValidationError("component is too deeply nested") from None


def resolve_component(c: ast.Component, *, features: Optional[FrozenSet[str]] = None,
                      component_features: Optional[FrozenSet[str]] = None,
                      validated: FrozenSet[int] = frozenset()
                      ) -> Tuple[ComponentType, Dict[int, "_Scope"]]:
    """Validate ``c`` as :func:`validate_component` does and also return, per component of
    it (keyed by ``id`` of its AST node, which the caller keeps alive), the resolved index
    spaces the instantiation walks (``types``, ``funcs``, ``imports``, ``exports``,
    ``components`` ...).  ``validated`` holds the ids of decoded core modules (``CoreModule.
    module``) known valid with ``features`` already: their code is not validated again (their
    imports and exports are checked as any module's)."""
    v = _Validator(features if features is not None else DEFAULT_FEATURES,
                   COMPONENT_FEATURES if component_features is None else component_features)
    v.scopes = {}
    v.validated = validated
    try:
        return v.component(c, None), v.scopes
    except RecursionError:
        raise ValidationError("component is too deeply nested") from None


def check_root_component(c: ast.Component, ctype: ComponentType) -> None:
    """Restrictions wasmtime puts on a root component (the one an embedding instantiates),
    beyond validation: no import of a component (a host cannot supply one), no component
    export, and no export that merely re-exports an imported function.  Raises
    ``ValidationError`` with wasmtime's message."""
    for _, e in ctype.imports:
        if e.sort == "component":
            raise ValidationError("root-level component imports are not supported")
    for _, e in ctype.exports:
        if e.sort == "component":
            raise ValidationError("exporting a component from the root component is not "
                                  "supported")
    imported_funcs: List[bool] = []          # func index -> comes straight from an import
    imported_instances: List[bool] = []
    for d in c.definitions:
        if isinstance(d, ast.Import):
            if d.desc.sort == ast.FUNC:
                imported_funcs.append(True)
            elif d.desc.sort == ast.INSTANCE:
                imported_instances.append(True)
        elif isinstance(d, ast.AliasExport):
            inst = d.instance < len(imported_instances) and imported_instances[d.instance]
            if d.sort == ast.FUNC:
                imported_funcs.append(inst)
            elif d.sort == ast.INSTANCE:
                imported_instances.append(inst)
        elif isinstance(d, ast.CanonLift):
            imported_funcs.append(False)
        elif isinstance(d, (ast.Instantiate, ast.InlineExports)):
            imported_instances.append(False)
        elif isinstance(d, ast.Export):
            si = d.sortidx
            if si.sort == ast.FUNC:
                reexport = si.idx < len(imported_funcs) and imported_funcs[si.idx]
                if reexport:
                    raise ValidationError(f"component export `{d.name.name}` is a reexport of "
                                          "an imported function which is not implemented",
                                          offset=d.offset)
                imported_funcs.append(False)
            elif si.sort == ast.INSTANCE:
                imported_instances.append(si.idx < len(imported_instances)
                                          and imported_instances[si.idx])


__all__ = ["validate_component", "check_root_component", "COMPONENT_FEATURES", "module_type",
           "check_extern_name", "canonical_name", "is_kebab", "check_semver"]
