"""The interp tier's compiled module: Python code objects for a module's functions, made once
and shared by every instance.

Each function is translated to Python source (:mod:`wasmforge.interp.translate`), compiled
with :func:`compile`, and its code object kept.  Instances bind those code objects to a
namespace of their own (memory, tables, globals, the other functions), so a call from one
wasm function to another is a plain Python call that stays inside CPython's eval loop.
Translation happens on a function's first call, in any instance.

Translations are cached on disk, so a module translates once per machine: each function's
code object is stored with :mod:`marshal` under a key hashing the function, the module
context its translation reads, the translator's own source and the Python version.  The
cache is the ``interp`` folder of :mod:`wasmforge._cache` (default
``~/.cache/wasmforge/interp``; ``WASMFORGE_CACHE=off`` disables it): a private folder of
authenticated entries, since unmarshalling a code object and running it executes whatever it
holds.  An entry's HMAC is checked before :func:`marshal.loads` sees a byte of it.  Cache
failures are ignored: it is an optimisation only.

Debug aids: ``WASMFORGE_INTERP_DUMP=dir`` writes each generated function to
``dir/f<index>.py``; ``WASMFORGE_INTERP_FLAT=1`` forces the state-machine translation of
every function (to test it on code that does not need it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import math
import os
import struct
import sys
import threading
import types as _pytypes
from functools import partial as _partial

from .. import _cache
from ..errors import Trap, TrapCode, WasmException
from ..binary.offsets import CodeOffsets
from ..module import FUNC, GLOBAL
from ..numerics.bits import f32_round
from ..numerics.scalar import IMPL as SCALAR
from ..runtime.func import set_call
from ..runtime.metering import FRAME_BYTES
from ..runtime import atomics, gc, support
from ..runtime.tag import Exn
from ..runtime.tier import store_cells
from ..types import func_type_matches
from .ops import helper_name
from .translate import FunctionTranslator

DEFAULT_MAX_CALL_DEPTH = 20000

_STATIC = {
    "Trap": Trap,
    "WasmException": WasmException,
    "Exn": Exn,
    "UNREACHABLE": TrapCode.UNREACHABLE_CODE_REACHED,
    "f32r": f32_round,
    "fabs": math.fabs,
    "sqrt": math.sqrt,
    "copysign": math.copysign,
    "from_le": lambda b: int.from_bytes(b, "little"),
    "U16": struct.Struct("<H").unpack_from,
    "S16": struct.Struct("<h").unpack_from,
    "U32": struct.Struct("<I").unpack_from,
    "S32": struct.Struct("<i").unpack_from,
    "U64": struct.Struct("<Q").unpack_from,
    "UF64": struct.Struct("<d").unpack_from,
    "P16": struct.Struct("<H").pack_into,
    "P32": struct.Struct("<I").pack_into,
    "P64": struct.Struct("<Q").pack_into,
    "PF64": struct.Struct("<d").pack_into,
    "TCALL": support.TailCall,
    "func_type_matches": func_type_matches,
    "Struct": gc.Struct, "Array": gc.Array, "I31": gc.I31,
}
for _name in ("null_struct", "null_i31", "sext8", "sext16", "i31_get_s", "ref_eq", "ref_test", "cast",
              "any_convert_extern", "extern_convert_any", "array_new", "array_get", "array_set",
              "array_len", "array_fill", "array_copy", "array_new_data", "array_new_elem",
              "array_init_data", "array_init_elem", "array_new_n", "array_fill_n", "array_copy_n",
              "array_new_data_n", "array_new_elem_n", "array_init_data_n", "array_init_elem_n"):
    _STATIC["GC_" + _name] = getattr(gc, _name)
for _name in ("oob", "table_oob", "undefined_element", "uninitialized_element", "type_mismatch",
              "stack_overflow", "overflow_trap", "out_of_fuel", "interrupted", "f32_load",
              "f32_bits", "memory_fill", "memory_copy", "memory_copy_between", "memory_init", "table_fill", "table_copy",
              "table_init", "table_fill_n", "table_copy_n", "table_init_n", "null_reference",
              "null_func_reference", "null_exnref"):
    _STATIC[_name] = getattr(support, _name)
for _name in ("load", "store", "rmw", "cmpxchg", "wait", "notify"):
    _STATIC["A_" + _name] = getattr(atomics, _name)
for _name, _fn in SCALAR.items():
    _STATIC[helper_name(_name)] = _fn


def _translator_digest() -> bytes:
    """Identifies the translator: its source files and the Python that runs the code."""
    h = hashlib.sha256(importlib.util.MAGIC_NUMBER + sys.version.encode())
    here = os.path.dirname(os.path.abspath(__file__))
    for fname in ("translate.py", "ops.py", "compiler.py", "../runtime/metering.py"):
        with open(os.path.join(here, fname), "rb") as fh:
            h.update(fh.read())
    return h.digest()


_TRANSLATOR = _translator_digest()


_SIMD_HELPERS = ("lane_get", "lane_set")


def _simd_names() -> dict:
    """``V_<name>`` for every SIMD operation; empty when the SIMD numerics are missing."""
    try:
        from ..numerics import simd  # optional: a build without it runs without SIMD
    except ImportError:
        return {}
    out = {"lane_get": simd.lane_get, "lane_set": simd.lane_set}
    for table in (simd.IMPL, simd.LOAD):
        for name, fn in table.items():
            out["V_" + name.replace(".", "_")] = fn
    return out


class CompiledModule:
    """A module translated for the interp tier.  Immutable once made; :meth:`instantiate`
    binds it to a runtime instance."""

    def __init__(self, module, lazy: bool = True, fuel: bool = False, epoch: bool = False):
        self.module = module
        self.fuel = fuel            # translate with fuel metering (see runtime/metering.py)
        self.epoch = epoch          # translate with epoch deadline checks
        self.func_types = module.func_types()
        self.nimported = module.num_imported(FUNC)
        self._codes = [None] * len(module.funcs)
        self._lock = threading.Lock()
        self._dump = os.environ.get("WASMFORGE_INTERP_DUMP")
        self._flat = True if os.environ.get("WASMFORGE_INTERP_FLAT") else None
        self._cache = _cache.folder("interp")
        self._context = None
        self._instance_template = None
        if not lazy:
            for j in range(len(module.funcs)):
                self.code(j)

    def source(self, j: int, flat=None):
        """The Python source of defined function ``j`` (and its constant table)."""
        i = self.nimported + j
        f = self.module.funcs[j]
        tr = FunctionTranslator(self.module, i, f, self.func_types[i], self.func_types, flat=flat,
                                fuel=self.fuel, epoch=self.epoch)
        return tr.translate()

    def _cache_key(self, j: int) -> str:
        """The cache key of defined function ``j``: everything its translation depends on."""
        m = self.module
        if self._context is None:
            h = hashlib.sha256(_TRANSLATOR)
            # (The module's name is in every frame a trap records, so it is part of the key.)
            h.update(repr((m.types, [(imp.kind, imp.desc) for imp in m.imports],
                           [f.typeidx for f in m.funcs], self._flat, self.fuel,
                           self.epoch, m.names.module)).encode())
            self._context = h.digest()
        i = self.nimported + j
        f = m.funcs[j]
        h = hashlib.sha256(self._context)
        # The names go into the trap frames the code records (module name included).
        h.update(repr((i, m.names.funcs.get(i), m.names.module, f.locals, f.body)).encode())
        return h.hexdigest()

    def _cache_load(self, key: str):
        # Folder.load returns only an entry whose HMAC verified: marshal never sees anything
        # this user's key did not sign (an unmarshalled code object runs whatever it holds).
        data = self._cache.load(key)
        if data is None:
            return None
        try:
            return marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            return None

    def _cache_store(self, key: str, entry) -> None:
        try:
            data = marshal.dumps(entry)
        except ValueError:
            return
        self._cache.store(key, data)

    def code(self, j: int):
        """The code object and constants of defined function ``j``, translated on first use."""
        entry = self._codes[j]
        if entry is not None:
            return entry
        with self._lock:
            entry = self._codes[j]
            if entry is None and self._cache and not self._dump:
                key = self._cache_key(j)
                entry = self._cache_load(key)
                if entry is not None:
                    self._codes[j] = entry
            else:
                key = None
            if entry is None:
                i = self.nimported + j
                src, consts = self.source(j, self._flat)
                if self._dump:
                    os.makedirs(self._dump, exist_ok=True)
                    with open(os.path.join(self._dump, f"f{i}.py"), "w") as fh:
                        fh.write(src)
                filename = f"<wasm function {i}>"
                try:
                    module_code = compile(src, filename, "exec")
                except (SyntaxError, RecursionError, MemoryError):
                    # The structured translation hit one of CPython's static limits the
                    # prescan did not foresee: the state machine has none of them.
                    src, consts = self.source(j, flat=True)
                    module_code = compile(src, filename, "exec")
                outer = next(c for c in module_code.co_consts if isinstance(c, _pytypes.CodeType))
                fcode = next(c for c in outer.co_consts if isinstance(c, _pytypes.CodeType))
                entry = self._codes[j] = (fcode, consts)
                if key is not None:
                    self._cache_store(key, entry)
        return entry

    def _template(self):
        """What every instance's namespace starts from, made once per module: the static
        helpers and the module's types, the names of the imported functions' and the
        globals' entries, and ``(key, index, defined index, name)`` per defined function."""
        t = self._instance_template
        if t is None:
            base = dict(_STATIC)
            base["LOC"] = CodeOffsets(self.module).locate
            closed, heaps = self.module.close_types()
            for k, ty in enumerate(closed):
                base[f"TY{k}"] = ty
                base[f"HP{k}"] = heaps[k]     # GC: the closed heap form of type k
            n = self.nimported
            names = self.module.names.funcs
            defined = [(f"f{i}", i, i - n, names.get(i)) for i in range(n, n + len(self.module.funcs))]
            nglobals = self.module.num_imported(GLOBAL) + len(self.module.globals)
            t = self._instance_template = (base, [f"F{i}" for i in range(n)],
                                           [f"g{k}" for k in range(nglobals)], defined)
        return t

    def instantiate(self, inst) -> list:
        """Bind the module's functions to the runtime instance ``inst``; return one callable
        per defined function, in ``module.funcs`` order."""
        base, import_keys, global_keys, defined = self._template()
        ns = base.copy()
        limit = getattr(inst, "max_call_depth", DEFAULT_MAX_CALL_DEPTH)
        # The call depth, fuel and interrupt flag are the store's, shared by the functions of
        # all its instances (docs/security.md, runtime/tier.py).
        sc = store_cells(getattr(inst, "store", None))
        cells = {"D": sc.depth, "FUEL": sc.fuel, "INT": sc.interrupt}
        # The stack budget in bytes: each frame costs frame_bytes() of it (runtime/metering.py).
        budget = sc.max_wasm_stack
        ns["LIM"] = budget if budget is not None else limit * FRAME_BYTES
        # Each wasm call is one Python frame; leave room for the host's own frames.
        if sys.getrecursionlimit() < limit + 2000:
            sys.setrecursionlimit(limit + 2000)
        funcs = inst.funcs
        ns["FI"] = funcs
        ns.update(zip(import_keys, funcs))
        for k, t in enumerate(inst.tables):
            ns[f"T{k}"] = t.elements
            ns[f"TAB{k}"] = t
        for k, mem in enumerate(inst.mems):
            ns[f"mem{k}"] = mem
            ns[f"M{k}"] = mem.data
        ns.update(zip(global_keys, inst.globals))
        for k, tag in enumerate(getattr(inst, "tags", ())):
            ns[f"TG{k}"] = tag
        ns["ELEMS"] = inst.elems
        ns["DATAS"] = inst.datas
        # Store.set_limits(memory_size=...) bounds the GC objects too: count them (runtime/gc.py).
        store = getattr(inst, "store", None)
        if getattr(store, "_memory_size", None) is not None:
            ns.update(gc.counted_allocators(gc.budget_of(store), self.module))
        # One stub per function, a partial rather than a closure: cheaper to make, and most
        # functions are never called in a short-lived instance.
        out = [_partial(_bind_on_first_call, self, ns, cells, inst, key, i, j, name)
               for key, i, j, name in defined]
        ns.update(zip([d[0] for d in defined], out))
        return out


def namespace_of(bound: list) -> dict:
    """The namespace of the instance :meth:`CompiledModule.instantiate` returned ``bound``
    for (calls between its functions look their callee up there by name, ``f<index>``)."""
    return bound[0].args[1]


def _bind_on_first_call(compiled, ns, cells, inst, key, i, j, name, *args):
    """The stub of defined function ``i`` (``j`` among the defined ones): translate it (or take
    its translation from the module), make the function in this instance's namespace, put
    it in place of the stub (namespace and FuncInstance), then call it."""
    fn = ns[key]
    if type(fn) is _partial:
        code, consts = compiled.code(j)
        ns.update(consts)
        if "lane_get" not in ns and any(n.startswith("V_") or n in _SIMD_HELPERS
                                        for n in code.co_names):
            # The SIMD numerics load only for the modules that use them.
            ns.update(_simd_names())
        closure = tuple(cells[n] for n in code.co_freevars)
        stub, fn = fn, _pytypes.FunctionType(code, ns, name or key, None, closure)
        if "TCALL" in code.co_names:
            # The body makes tail calls: the function runs it on a trampoline (support.py).
            fn = support.trampoline(fn)
        ns[key] = fn
        set_call(inst.funcs, i, fn, stub)     # (without making its FuncInstance)
    return fn(*args)


def compile_module(module, *, lazy: bool = True, fuel: bool = False,
                   epoch: bool = False) -> CompiledModule:
    """Translate the validated ``module`` for the interp tier (see :class:`CompiledModule`);
    ``lazy=False`` translates every function now instead of on first call; ``fuel`` and
    ``epoch`` add fuel metering and epoch deadline checks (runtime/metering.py)."""
    return CompiledModule(module, lazy, fuel, epoch)
