"""The embedding API, with wasmtime-py's names and call shapes.

Handles (:class:`Func`, :class:`Memory`, :class:`Table`, :class:`Global`, :class:`Instance`)
are thin references to runtime objects owned by a :class:`Store`; every method takes the
store (or a :class:`Caller`) first, and refuses one the object does not belong to.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Mapping
from typing import (TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple, Type, TypeVar,
                    Union)

if TYPE_CHECKING:
    from pathlib import Path

from .. import _validcache as valid_cache
from .._log import INFO, get_logger
from ..errors import DecodeError, Handle, Trap, TrapCode, WasmError, WasmTypeError, printable
from ..features import DEFAULT as DEFAULT_FEATURES
from ..module import FUNC, GLOBAL, MEMORY, TABLE, TAG
from ..module import Module as ModuleData
from ..runtime.func import FuncInstance, HostFunc
from ..runtime.glob import GlobalInstance
from ..runtime.instance import ModuleInstance, instance_plan, instantiate
from ..runtime.memory import MemoryAccessError, MemoryInstance
from ..runtime.table import TableInstance
from ..runtime.tag import Tag
from ..types import (MAX_PAGES, MAX_PAGES64, PAGE_SIZE, REF_TYPES, VAL_TYPES, FuncType, GlobalType,
                     MemoryType, TableType, TagType, is_ref)
from .aio import blocking, call_async, check_thread, is_async
from .engine import Engine
from ..runtime import store as _runtime
from .store import Storelike, check_owner, resolve_store
from .values import FuncRef, entry_for, exit_for, to_api, to_internal

#: Host-side events (docs/observability.md), silent unless the host configures logging:
#: modules compiled or loaded from the module cache (DEBUG), traps reaching the host (INFO).
log = get_logger("wasmforge.module")
trap_log = get_logger("wasmforge.trap")


def _innermost(trap: Trap) -> str:
    """Where ``trap`` happened, as wasmtime's backtrace names a frame: ``module!function``."""
    if not trap.frames:
        return "a host function"
    f = trap.frames[0]
    return (f"{printable(f.module_name) if f.module_name else '<unknown>'}!"
            f"{printable(f.func_name) if f.func_name else f'<wasm function {f.func_index}>'}")


def _read(path: Union[str, "Path"]) -> bytes:
    """The bytes of the file at ``path`` (``Path(path).read_bytes()`` without importing pathlib:
    start-up time)."""
    with open(os.fspath(path), "rb") as f:
        return f.read()


def _label(data: ModuleData) -> str:
    name = data.names.module
    return f"module {printable(name)!r}" if name else "module"


#: The type of an import or export: what ``ImportType.type`` / ``ExportType.type`` hold.
ExternType = Union[FuncType, TableType, MemoryType, GlobalType, TagType]
#: An extern handle: what instances export and imports take.
Extern = Union["Func", "Table", "Memory", "Global", Tag, "SharedMemory"]
#: The bytes-like objects a module is given as (besides WAT text as ``str``).
Bytes = Union[bytes, bytearray, memoryview]


# ----- modules -----

def _load(wasm: Union[Bytes, str], features: FrozenSet[str] = DEFAULT_FEATURES) -> ModuleData:
    """Decode a binary or parse a text module (str, or bytes not starting with the magic);
    ``features`` pick the 2.0 or the memory64 / multi-memory format where they differ."""
    text: Optional[str] = None
    if isinstance(wasm, str):
        text = wasm
    elif not isinstance(wasm, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected the module as bytes (binary) or str (text), got {type(wasm).__name__}")
    else:
        data = bytes(wasm)
        if not data:
            # Not an empty text module: wasmtime reads no bytes as a truncated binary.
            raise DecodeError("unexpected end-of-file", 0)
        if data[:1] != b"\0":
            # Like wasmtime: bytes that do not start as a binary are read as text when they decode.
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                pass
        if text is None:
            # Imported on the first binary (start-up speed: `import wasmforge` loads no decoder).
            from ..binary.decode import decode_module
            return decode_module(data, features=features)
    # The text parser is imported only when text is given (start-up speed).
    from ..text.parser import parse_module
    return parse_module(text, features=features)


def _validate(module: ModuleData, engine: Engine, binary: Optional[bytes] = None) -> Any:
    """Validate ``module``; when it was decoded from ``binary``, once per machine (the verdict
    is cached: _validcache.py)."""
    if binary is not None and valid_cache.known_valid(binary, engine.features):
        return
    # Imported on first validation (start-up speed: a cached module or an artifact is not
    # validated again).
    from ..valid.validate import validate
    # (given the binary, the module was decoded from it just now: Module.__init__)
    validate(module, features=engine.features, fresh=binary is not None)
    if binary is not None:
        valid_cache.remember_valid(binary, engine.features)


class ImportType(Handle):
    """One import of a module: ``module`` and ``name`` strings and ``type`` (a FuncType,
    TableType, MemoryType or GlobalType)."""

    __slots__ = ("module", "name", "type")

    module: str
    name: str
    type: ExternType

    def __init__(self, module: str, name: str, type: ExternType) -> None:
        self.module, self.name, self.type = module, name, type

    def __repr__(self) -> str:
        return f"ImportType({self.module!r}, {self.name!r}, {self.type!r})"


class ExportType(Handle):
    """One export of a module: ``name`` and ``type``."""

    __slots__ = ("name", "type")

    name: str
    type: ExternType

    def __init__(self, name: str, type: ExternType) -> None:
        self.name, self.type = name, type

    def __repr__(self) -> str:
        return f"ExportType({self.name!r}, {self.type!r})"



# api/aot.py's deserialize once loaded (_load_aot): an import statement run per call costs
# a cold start more than a microsecond.
_aot_deserialize: Any = None


def _load_aot() -> Any:
    global _aot_deserialize
    # Imported on first use (start-up speed: artifacts need pickle and json).
    from . import aot
    _aot_deserialize = aot.deserialize
    return _aot_deserialize


class Module(Handle):
    """A decoded and validated module, compiled once by its Engine's tier and shared by all
    its instances.  ``wasm`` is a binary (bytes) or WAT text (str)."""

    engine: Engine
    _data: ModuleData
    _code: Any                  # the tier's compiled module, once compiled
    _cache_entry: Optional[str]
    #: the binary, kept when a module cache hit left the data segments unread (serialize)
    _binary: Optional[bytes] = None

    def __init__(self, engine: Engine, wasm: Union[Bytes, str]) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(f"expected an Engine, got {type(engine).__name__}")
        self._cache_entry = None
        binary = bytes(wasm) if isinstance(wasm, (bytes, bytearray, memoryview)) \
            and bytes(wasm[:4]) == b"\0asm" else None
        if binary is not None and hasattr(engine.tier, "cached_module") and self._from_cache(engine, binary):
            return
        self._setup(engine, _load(wasm if binary is None else binary, engine.features), binary)

    def _from_cache(self, engine: Engine, wasm: bytes) -> bool:
        """Set this module up from the tier's module cache (runtime/tier.py): the binary
        decoded again but not validated, its machine code mapped, no compiler.  On a miss,
        remember the entry so that :meth:`_compiled` fills it."""
        entry, data, code = engine.tier.cached_module(wasm, engine.consume_fuel,
                                                      engine.epoch_interruption, engine.opt_level,
                                                      engine.features)
        self._cache_entry = entry
        if code is None:
            log.debug("module cache miss (%s tier): compiled on first use", engine.strategy)
            return False
        log.debug("%s loaded from the module cache (%s tier, %d functions): not validated or compiled again",
                  _label(data), engine.strategy, len(data.funcs))
        self.engine = engine
        self._data = data
        data.backtrace_details = engine.backtrace_details
        self._code = code
        self._cache_entry = None
        from ..binary.decode import SKIPPED_DATA  # start-up speed: loaded by the hit already
        if data.datas and data.datas[0] is SKIPPED_DATA:
            # The hit left the data segments unread (the initial memory came from the entry):
            # serialize() reads them from the binary.
            self._binary = wasm
        return True

    def _setup(self, engine: Engine, data: ModuleData, binary: Optional[bytes] = None) -> None:
        _validate(data, engine, binary)
        self.engine = engine
        self._data = data
        data.backtrace_details = engine.backtrace_details
        self._code = None

    @classmethod
    def _in_component(cls, engine: Engine, binary: bytes, decoded: ModuleData) -> Tuple["Module", bool]:
        """The Module of a core module of a component (``binary``, ``decoded`` by the
        component's decoder), set up exactly as ``Module(engine, binary)`` would be — the
        module cache looked up first, on a miss compiled on first use as any Module (lazily,
        tiered, filling the cache entry) — but not validated here: the component's
        validator does that, for the modules not already known valid.  Returns the Module
        and whether it is known valid (a module cache hit or the validation cache's
        verdict)."""
        self = cls.__new__(cls)
        self._cache_entry = None
        decoded.backtrace_details = engine.backtrace_details
        cached = getattr(engine.tier, "cached_module", None)
        if cached is not None:
            entry, data, code = cached(binary, engine.consume_fuel, engine.epoch_interruption,
                                       engine.opt_level, engine.features, decoded=decoded)
            if code is not None:
                self.engine, self._data, self._code = engine, data, code
                data.backtrace_details = engine.backtrace_details
                return self, True
            self._cache_entry = entry
        self.engine, self._data, self._code = engine, decoded, None
        return self, valid_cache.known_valid(binary, engine.features)

    @classmethod
    def _from_data(cls, engine: Engine, data: ModuleData) -> "Module":
        """A Module from an already decoded or parsed module (validated here)."""
        self = cls.__new__(cls)
        self._setup(engine, data)
        return self

    @classmethod
    def from_file(cls, engine: Engine, path: Union[str, Path]) -> "Module":
        """Load a ``.wasm`` binary or ``.wat`` text file."""
        return cls(engine, _read(path))

    @staticmethod
    def validate(engine: Engine, wasm: Union[Bytes, str]) -> None:
        """Raise DecodeError/ParseError/ValidationError unless ``wasm`` is a valid module."""
        if not isinstance(engine, Engine):
            raise TypeError(f"expected an Engine, got {type(engine).__name__}")
        _validate(_load(wasm, engine.features), engine)

    @property
    def name(self) -> Optional[str]:
        """The module name from the name section, if any."""
        return self._data.names.module

    @property
    def imports(self) -> List[ImportType]:
        """The module's imports, in order."""
        # Typed references are shown closed over the module's type indices (InstancePlan).
        return [ImportType(i.module, i.name, TagType(t) if i.kind == TAG else t)
                for i, t in zip(self._data.imports, instance_plan(self._data).import_types)]

    @property
    def exports(self) -> List[ExportType]:
        """The module's exports, in order."""
        d = self._data
        closed = d.closed_types()
        spaces: Dict[str, Callable[[], List[Any]]] = {
            FUNC: lambda: [closed[i] for i in d.func_typeidx()], TABLE: d.table_types,
            MEMORY: d.mem_types, GLOBAL: d.global_types,
            TAG: lambda: [TagType(closed[i.desc]) for i in d.imports  # type: ignore[index]
                          if i.kind == TAG]
            + [TagType(closed[t.typeidx]) for t in d.tags]}
        cache: Dict[str, List[Any]] = {}
        out: List[ExportType] = []
        for e in d.exports:
            if e.kind not in cache:
                cache[e.kind] = spaces[e.kind]()
            out.append(ExportType(e.name, cache[e.kind][e.index]))
        return out

    def _compiled(self) -> Any:
        """The tier's compiled code, translated on first use and then shared."""
        if self._code is None:
            entry = getattr(self, "_cache_entry", None)
            if entry is None:
                start = time.perf_counter()
                self._code = self.engine.compile(self._data)
                log.debug("%s compiled by the %s tier in %.3f s (%d functions)", _label(self._data),
                          self.engine.strategy, time.perf_counter() - start, len(self._data.funcs))
                return self._code
            # Compiled from the binary this entry names: a later Module(engine, binary) loads
            # the code without validating or compiling (a lazily compiled module: each part
            # as it is compiled).
            # Imported on a cache miss only (start-up speed: a warm run loads no interp tier).
            from ..tiering import TieredModule, wants_tiering
            engine = self.engine
            code: Any
            if wants_tiering(self._data, engine):
                # Runs on interp while a child compiles (it fills the entry): no wait.
                code = TieredModule(self._data, engine, entry)
            else:
                code = engine.tier.compile_cached(self._data, entry, engine.consume_fuel,
                                                  engine.epoch_interruption, engine.opt_level)
            self._code = code
            self._cache_entry = None
            log.debug("%s compiled by the %s tier%s, into the module cache (%d functions)",
                      _label(self._data), engine.strategy,
                      " (running on interp meanwhile)" if isinstance(code, TieredModule) else "",
                      len(self._data.funcs))
        return self._code

    def serialize(self) -> bytes:
        """This module as an ahead-of-time artifact: its binary and, on the llvm tier, its
        machine code (compiled now if it was not yet), with a header recording what the code
        depends on (format in api/aot.py)."""
        # Imported on first use (start-up speed: artifacts need pickle and json).
        from . import aot
        return aot.serialize(self)

    @classmethod
    def deserialize(cls, engine: Engine, encoded: Bytes) -> "Module":
        """A Module from an artifact made by :meth:`serialize`, without validating or
        compiling it again.  Raises WasmError, naming the difference, when the artifact was
        made for another engine configuration, compiler or CPU, or is truncated or corrupted.
        Artifacts are trusted input: their machine code runs unverified."""
        deserialize = _aot_deserialize
        if deserialize is None:
            deserialize = _load_aot()
        module: Module = deserialize(cls, engine, encoded)
        return module

    @classmethod
    def deserialize_file(cls, engine: Engine, path: Union[str, Path]) -> "Module":
        """:meth:`deserialize` of the artifact in the file ``path``."""
        return cls.deserialize(engine, _read(path))

    def close(self) -> None:
        """wasmtime-py's explicit release: drops this handle's compiled code (instances
        keep what they use; the module compiles again if instantiated later)."""
        self._code = None

    def __enter__(self) -> "Module":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        name = f" {self.name}" if self.name else ""
        return f"<Module{name} imports={len(self._data.imports)} exports={len(self._data.exports)}>"


def wat2wasm(wat: Union[str, bytes, bytearray]) -> bytes:
    """Translate WebAssembly text to the binary format."""
    # Imported on first use (start-up speed: most embedders never translate text).
    from ..binary.encode import encode_module
    from ..text.parser import parse_module
    if isinstance(wat, (bytes, bytearray)):
        wat = bytes(wat).decode("utf-8")
    return encode_module(parse_module(wat))


# ----- instances -----

def _to_extern(item: Extern, store: _runtime.Store) -> Any:
    """The runtime object behind an extern handle, checked to belong to ``store``."""
    obj: Any
    owner: Optional[_runtime.Store]
    if isinstance(item, Func):
        obj, owner = item._fi, item._fi.store
    elif isinstance(item, (Memory, Table, Global)):
        obj, owner = item._obj, item._store
    elif isinstance(item, Tag):
        obj, owner = item, item.store
    elif isinstance(item, SharedMemory):
        return item._obj        # belongs to no store (threads)
    else:
        raise TypeError(f"expected a Func, Table, Memory, Global or Tag, got {type(item).__name__}")
    if owner is not store:
        raise WasmError(f"{type(item).__name__} belongs to a different store than the one passed")
    return obj


def _wrap_extern(obj: Any, store: _runtime.Store) -> Extern:
    """The API handle of a runtime object."""
    if isinstance(obj, FuncInstance):
        return Func._wrap(obj)
    if isinstance(obj, MemoryInstance):
        if obj.type.shared:
            return SharedMemory._wrap(obj)
        return Memory._wrap(store, obj)
    if isinstance(obj, TableInstance):
        return Table._wrap(store, obj)
    if isinstance(obj, Tag):
        return obj              # a tag is its own handle
    return Global._wrap(store, obj)


def _instantiate(store: _runtime.Store, module: "Module", externs: List[Any]) -> ModuleInstance:
    if not isinstance(module, Module):
        raise TypeError(f"expected a Module, got {type(module).__name__}")
    if module.engine is not store.engine:
        raise WasmError("the module was compiled by a different Engine than the store's")
    code = module._compiled() if module._data.funcs else None
    return instantiate(store, module._data, code, externs)


class Instance:
    """An instantiated module: ``Instance(store, module, imports)`` with one extern (Func,
    Table, Memory or Global) per import, in order.  Raises LinkError when they do not match,
    Trap when initialisation traps."""

    _inst: ModuleInstance
    _store: _runtime.Store
    _exports: Optional["InstanceExports"]

    def __init__(self, store: Storelike, module: Module, imports: Sequence[Extern]) -> None:
        st = resolve_store(store)
        externs = [_to_extern(item, st) for item in imports]
        self._inst = _instantiate(st, module, externs)
        self._store = st
        self._exports = None

    @classmethod
    def _wrap(cls, store: _runtime.Store, inst: ModuleInstance) -> "Instance":
        self = cls.__new__(cls)
        self._inst, self._store, self._exports = inst, store, None
        return self

    def __repr__(self) -> str:
        inst = self._inst
        name = f" {printable(inst.name)}" if inst.name else ""
        return f"<Instance{name} exports={len(inst.exports)}>"

    def exports(self, store: Storelike) -> "InstanceExports":
        """The exports, indexable by name and by position."""
        if store is not self._store or self._store._closed:
            check_owner(self._store, store, "Instance")
        exports = self._exports
        if exports is None:
            exports = self._exports = InstanceExports(self._inst, self._store)
        return exports


class InstanceExports(Mapping[str, Extern]):
    """An instance's exports, a read-only mapping from name to extern as in wasmtime-py:
    ``exports["name"]``, ``get``, ``in``, ``len``, iteration over the names, ``keys()``,
    ``values()``, ``items()``, and ``by_index`` (the externs in export order).  wasmforge
    also accepts a position: ``exports[0]`` is ``exports.by_index[0]``."""

    def __init__(self, inst: ModuleInstance, store: _runtime.Store) -> None:
        # Each export is wrapped when first asked for (a request handler looks up one or
        # two), then always the same handle.
        self._exports: Dict[str, Any] = inst.exports     # name -> runtime object, in order
        self._store = store
        self._map: Dict[str, Extern] = {}
        self._all: Optional[Tuple[Extern, ...]] = None

    def _wrap(self, name: str) -> Extern:
        ext = self._map.get(name)
        if ext is None:
            ext = self._map[name] = _wrap_extern(self._exports[name], self._store)
        return ext

    @property
    def _list(self) -> Tuple[Extern, ...]:
        externs = self._all
        if externs is None:
            externs = self._all = tuple(self._wrap(name) for name in self._exports)
        return externs

    @property
    def by_index(self) -> Sequence[Extern]:
        """The externs in export order."""
        return self._list

    def __getitem__(self, key: Union[str, int]) -> Extern:
        if isinstance(key, str):
            ext = self._map.get(key)
            if ext is not None:
                return ext
            obj = self._exports.get(key)
            if obj is None and key not in self._exports:
                raise KeyError(f"no export named {key!r}")
            # (InstanceExports._wrap, inline: a request handler looks up one or two)
            ext = self._map[key] = (Func._wrap(obj) if isinstance(obj, FuncInstance)
                                    else _wrap_extern(self._exports[key], self._store))
            return ext
        if isinstance(key, int) and not isinstance(key, bool):
            return self._list[key]
        raise KeyError(key)

    def get(self, key: Union[str, int], default: Any = None) -> Any:
        if isinstance(key, str):
            return self._wrap(key) if key in self._exports else default
        return self._list[key] if -len(self._exports) <= key < len(self._exports) else default

    def __len__(self) -> int:
        return len(self._exports)

    def __iter__(self) -> Iterator[str]:
        return iter(self._exports)

    def __contains__(self, name: object) -> bool:
        return name in self._exports

    def __repr__(self) -> str:
        return f"<InstanceExports {', '.join(map(printable, self._exports)) or '(none)'}>"


class _HostFunc(HostFunc):
    """A host function of the API (``Func(store, ty, fn)``, ``Linker.define_func``): ``fn``
    takes and returns values in the API form (signed integers, Func handles), after a
    :class:`Caller` when ``access_caller``."""

    __slots__ = ()

    def bind(self, store: _runtime.Store, inst: Optional[ModuleInstance] = None) -> Callable[..., Any]:
        caller_factory = None
        if self.access_caller:
            caller_factory = lambda: Caller(inst, store)  # noqa: E731
        make = exit_for(self.type.params, self.type.results, self.access_caller)
        call: Callable[..., Any] = make(self.fn, store, caller_factory)
        return call


class Caller:
    """Passed first to a host function defined with ``access_caller=True``: reaches the
    exports of the instance that imported the function (``caller.get("memory")``) and can be
    used wherever a store is expected.  Valid only during the host call."""

    _inst: Optional[ModuleInstance]
    _caller_store: Optional[_runtime.Store]

    def __init__(self, inst: Optional[ModuleInstance], store: _runtime.Store) -> None:
        self._inst = inst
        self._caller_store = store

    def get(self, name: str) -> Optional[Extern]:
        """The export ``name`` of the calling instance, or None; None too once the host call
        has returned, as in wasmtime-py (using the Caller as a store then raises)."""
        store = self._caller_store
        if self._inst is None or store is None:
            return None
        obj = self._inst.exports.get(name)
        return None if obj is None else _wrap_extern(obj, store)

    def __getitem__(self, name: str) -> Extern:
        item = self.get(name)
        if item is None:
            raise KeyError(f"the calling instance has no export named {name!r}")
        return item

    def _invalidate(self) -> None:
        self._inst = None
        self._caller_store = None

    def __repr__(self) -> str:
        return "<Caller>" if self._caller_store is not None else "<Caller (expired)>"


# ----- externs -----

#: The most nested wasm -> host -> wasm re-entries one thread may make (docs/security.md).
MAX_HOST_REENTRY = 500
#: Native stack budgeted per re-entry level (measured: about 1.1 KiB on the interp tier with
#: CPython 3.11; the llvm tier checks its own frames against the real stack floor) ...
REENTRY_STACK_BYTES = 2048
#: ... and kept free below the deepest level for the host function's own Python code.
REENTRY_STACK_RESERVE = 64 * 1024

_reentry = threading.local()


def _thread_stack_size() -> int:
    """The size of the calling thread's native stack in bytes (0 when unknown)."""
    try:
        libc = ctypes.CDLL(None)
        libc.pthread_self.restype = ctypes.c_void_p
        attr = ctypes.create_string_buffer(256)
        if libc.pthread_getattr_np(ctypes.c_void_p(libc.pthread_self()), attr) != 0:
            return 0
        addr, size = ctypes.c_void_p(), ctypes.c_size_t()
        libc.pthread_attr_getstack(attr, ctypes.byref(addr), ctypes.byref(size))
        libc.pthread_attr_destroy(attr)
        return int(size.value)
    except (AttributeError, OSError):
        return 0


def reentry_cap() -> int:
    """How many nested host re-entries the calling thread's native stack allows: each nests
    C frames of the Python interpreter that no wasm stack budget sees, so a thread started
    with a small ``threading.stack_size`` gets fewer (a clean STACK_OVERFLOW trap, never a
    segfault).  Computed once per thread."""
    nesting = _reentry.__dict__
    cap = nesting.get("cap")
    if cap is None:
        size = _thread_stack_size()
        if not size and threading.current_thread() is not threading.main_thread():
            size = threading.stack_size()   # 0: the platform default, assumed large enough
        cap = MAX_HOST_REENTRY
        if size:
            cap = max(0, min(cap, (size - REENTRY_STACK_RESERVE) // REENTRY_STACK_BYTES))
        nesting["cap"] = cap
    return int(cap)

def _check_functype(ty: object) -> None:
    if not isinstance(ty, FuncType):
        raise TypeError(f"expected a FuncType, got {type(ty).__name__}")
    for t in ty.params + ty.results:
        if t not in VAL_TYPES and not is_ref(t):
            raise TypeError(f"{t!r} is not a value type")


def _host_func(ty: FuncType, func: Callable[..., Any], access_caller: bool) -> _HostFunc:
    """The host function of ``Func(store, ty, func)`` and ``Linker.define_func``, checked;
    an ``async def`` runs on the event loop (api/aio.py)."""
    _check_functype(ty)
    if not callable(func):
        raise TypeError(f"expected a callable, got {type(func).__name__}")
    if is_async(func):
        func = blocking(func)
    return _HostFunc(ty, func, bool(access_caller))


class Func(FuncRef):
    """A function: ``Func(store, FuncType, callable, access_caller=False)`` makes a host
    function; exports of instances are Funcs too.  Call it as ``func(store, *args)``."""

    __slots__ = ("_fi", "_enter", "_nparams")

    _fi: FuncInstance
    _enter: Callable[..., Any]
    _nparams: int

    def __init__(self, store: Storelike, ty: FuncType, func: Callable[..., Any],
                 access_caller: bool = False) -> None:
        st = resolve_store(store)
        host = _host_func(ty, func, access_caller)
        self._bind(st._own(FuncInstance(ty, host.bind(st), getattr(host.fn, "__name__", None),
                                        host=host, store=st)))

    @classmethod
    def _wrap(cls, fi: FuncInstance) -> "Func":
        self = cls.__new__(cls)
        self._bind(fi)
        return self

    def _bind(self, fi: FuncInstance) -> None:
        self._fi = fi
        self._enter = entry_for(fi.type.params, fi.type.results)
        self._nparams = len(fi.type.params)

    def type(self, store: Storelike) -> FuncType:
        check_owner(self._fi.store, store, "Func")
        return self._fi.type

    def __call__(self, store: Storelike, *params: Any) -> Any:
        fi = self._fi
        st = fi.store
        if st._closed or store is not st:
            check_owner(st, store, "Func")
        if st._guest_thread is not None:
            check_thread(st)            # another thread's call_async runs in this store
        if len(params) != self._nparams:
            ptys = fi.type.params
            few = "few" if len(params) < len(ptys) else "many"
            raise WasmTypeError(f"too {few} parameters provided: given {len(params)}, expected {len(ptys)} "
                                f"({self._label()} takes {len(ptys)} argument{'s' if len(ptys) != 1 else ''}: "
                                f"{', '.join(ptys) or 'none'})")
        if st._depth.cell_contents:
            return self._reenter(fi, st, params)
        try:
            return self._enter(fi.call, st, *params)
        except Trap as trap:
            # (no cost without a trap from CPython 3.11 on: its exception table)
            if trap_log.isEnabledFor(INFO):
                trap_log.info("trap in %s: %s", _innermost(trap), trap.message)
            raise

    def _reenter(self, fi: FuncInstance, st: _runtime.Store, params: Tuple[Any, ...]) -> Any:
        """A call from a host function that wasm code called: each such re-entry nests C
        frames of the Python interpreter, which the wasm stack budget does not see, so their
        number is capped to keep the native stack safe (docs/security.md)."""
        nesting = _reentry.__dict__
        depth = nesting.get("depth", 0)
        cap = nesting.get("cap")
        if depth >= (reentry_cap() if cap is None else cap):
            raise Trap(TrapCode.STACK_OVERFLOW.value, TrapCode.STACK_OVERFLOW)
        nesting["depth"] = depth + 1
        try:
            return self._enter(fi.call, st, *params)
        finally:
            nesting["depth"] = depth

    call = __call__

    async def call_async(self, store: Storelike, *params: Any) -> Any:
        """``await func.call_async(store, *args)``: the call, run in a thread of its own so
        that the event loop keeps running meanwhile (see :mod:`wasmforge.api.aio`)."""
        st = self._fi.store
        if st._closed or store is not st:
            check_owner(st, store, "Func")
        return await call_async(st, self.__call__, store, *params)

    def _label(self) -> str:
        return f"function {self._fi.name!r}" if self._fi.name else "function"

    def _key(self) -> object:
        # Host functions bound per importing instance (for Caller access) are the same function.
        fi = self._fi
        return fi.host if fi.host is not None else fi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Func) and self._key() is other._key()

    def __hash__(self) -> int:
        return id(self._key())

    def __repr__(self) -> str:
        name = f" {printable(self._fi.name)}" if self._fi.name else ""
        return f"<Func{name} {self._fi.type}>"


_E = TypeVar("_E", bound="_Extern")


class _Extern:
    __slots__ = ("_store", "_obj")

    _store: _runtime.Store
    _obj: Any

    @classmethod
    def _wrap(cls: Type[_E], store: _runtime.Store, obj: Any) -> _E:
        self = cls.__new__(cls)
        self._store, self._obj = store, obj
        return self

    def _check(self, store: Storelike) -> _runtime.Store:
        return check_owner(self._store, store, type(self).__name__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Extern) and type(other) is type(self) and other._obj is self._obj

    def __hash__(self) -> int:
        return id(self._obj)


def _max_suffix(obj: Any) -> str:
    """`` (max N)`` for the repr of a memory or table with a maximum, else ``""``."""
    limit = obj.type.limits.max
    return "" if limit is None else f" (max {limit})"


class Memory(_Extern):
    """A linear memory: ``Memory(store, MemoryType(Limits(min, max)))``.  Sizes are in 64 KiB
    pages except :meth:`data_len`; :meth:`buffer` gives zero-copy access."""

    __slots__ = ()

    _obj: MemoryInstance

    def __init__(self, store: Storelike, ty: MemoryType) -> None:
        st = resolve_store(store)
        if not isinstance(ty, MemoryType):
            raise TypeError(f"expected a MemoryType, got {type(ty).__name__}")
        bound = MAX_PAGES64 if ty.is_64 else MAX_PAGES
        for what, pages in (("minimum", ty.limits.min), ("maximum", ty.limits.max)):
            if pages is not None and pages > bound:
                # As wasmtime (spec 3.2.4: at most 2^16 pages of a 32-bit memory, 2^48 of a
                # 64-bit one).
                raise WasmError(f"{what} size {pages} pages is too large for a memory with "
                                f"{64 if ty.is_64 else 32}-bit addresses (at most {bound} pages)")
        st._admit(0, [ty], [])
        self._store, self._obj = st, st._own(MemoryInstance(ty, st.memory_reservation()))
        st._adopt(mems=[self._obj])

    def type(self, store: Storelike) -> MemoryType:
        """The type, with the current size as minimum."""
        self._check(store)
        return self._obj.current_type()

    def size(self, store: Storelike) -> int:
        """The current size in pages."""
        self._check(store)
        return self._obj.size // 65536

    def data_len(self, store: Storelike) -> int:
        """The current size in bytes."""
        self._check(store)
        return self._obj.size

    def grow(self, store: Storelike, delta: int) -> int:
        """Grow by ``delta`` pages; return the previous size in pages.  Raises WasmError when
        the memory cannot grow that much."""
        self._check(store)
        if not isinstance(delta, int):
            raise WasmTypeError(f"expected an int number of pages, got {type(delta).__name__}")
        if delta < 0:
            raise WasmError(f"cannot grow a memory by {delta!r} pages")
        old = self._obj.grow(delta)
        if old < 0 and self._obj.pages + delta <= self._obj.max_pages:
            # Only a memory without reservation (Pyodide: runtime/memory.py) fails below its
            # maximum: its bytearray cannot be resized while exported, or memory ran out.
            raise WasmError(f"failed to grow memory by {delta} pages: a data_ptr, get_buffer_ptr or buffer "
                            "of it is still alive, or the process is out of memory")
        if old < 0:
            raise WasmError(f"failed to grow memory by {delta} pages: the maximum is "
                            f"{self._obj.max_pages} pages, the size {self._obj.pages}")
        return old

    def read(self, store: Storelike, start: int = 0, stop: Optional[int] = None) -> bytearray:
        """A copy of bytes ``[start:stop]``, with Python slice semantics."""
        self._check(store)
        start, stop, _ = slice(start, stop).indices(self._obj.size)
        if stop <= start:
            return bytearray()
        # Through a view: slicing the mmap itself would make a bytes copy first (2n at peak).
        with memoryview(self._obj.data) as view:
            return bytearray(view[start:stop])

    def write(self, store: Storelike, value: Bytes, start: int = 0) -> int:
        """Copy ``value`` (bytes-like) to ``start`` (negative counts from the end); return the
        number of bytes written.  Raises MemoryAccessError (an IndexError) if it does not fit."""
        self._check(store)
        size = self._obj.size
        if start < 0:
            start += size
        if start < 0 or start >= size and len(value):
            raise MemoryAccessError(f"index {start} out of range for memory of {size} bytes")
        self._obj.write(start, value)
        return len(value)

    def buffer(self, store: Storelike) -> memoryview:
        """A writable memoryview of the memory's current bytes (it does not follow growth)."""
        self._check(store)
        return self._obj.view()

    def data_ptr(self, store: Storelike) -> "ctypes._Pointer[ctypes.c_ubyte]":
        """A raw ``ctypes.POINTER(c_ubyte)`` to byte 0 of the memory, as in wasmtime-py.
        Indexing it is not bounds-checked: stay below :meth:`data_len`.  The memory's mapping
        never moves (it is reserved up to the maximum), so the pointer stays valid after
        growth, and the pointer keeps the mapping alive even after the store is closed."""
        self._check(store)
        # from_buffer pins the mmap (it cannot be unmapped while the pointer lives).
        base = ctypes.c_ubyte.from_buffer(self._obj.data)
        return ctypes.pointer(base)

    def get_buffer_ptr(self, store: Storelike, size: Optional[int] = None,
                       offset: int = 0) -> "ctypes.Array[ctypes.c_ubyte]":
        """wasmtime-py's zero-copy access: a ctypes ``c_ubyte`` array over ``size`` bytes
        (default: to the end) from ``offset``; it supports the buffer protocol
        (``numpy.frombuffer``, ``memoryview``).  Unlike wasmtime-py the range is checked
        against the current size (MemoryAccessError)."""
        self._check(store)
        length = self._obj.size
        end = length if size is None else offset + size
        if offset < 0 or end < offset or end > length:
            raise MemoryAccessError(f"[{offset}, {end}) is outside memory of {length} bytes")
        return (ctypes.c_ubyte * (end - offset)).from_buffer(self._obj.data, offset)

    def page_size(self, store: Storelike) -> int:
        """The page size in bytes: 65536 (custom page sizes are a later proposal)."""
        self._check(store)
        return PAGE_SIZE

    def page_size_log2(self, store: Storelike) -> int:
        self._check(store)
        return 16

    def __repr__(self) -> str:
        obj = self._obj
        return f"<Memory {obj.pages} page{'s' if obj.pages != 1 else ''}{_max_suffix(obj)}, {obj.size:,} bytes>"


class Table(_Extern):
    """A table of references: ``Table(store, TableType(ValType.funcref(), Limits(..)), init)``."""

    __slots__ = ()

    _obj: TableInstance

    def __init__(self, store: Storelike, ty: TableType, init: Any = None) -> None:
        st = resolve_store(store)
        if not isinstance(ty, TableType):
            raise TypeError(f"expected a TableType, got {type(ty).__name__}")
        if ty.element not in REF_TYPES and not is_ref(ty.element):
            raise TypeError(f"a table holds references, not {ty.element}")
        value = to_internal(ty.element, init, st)
        st._admit(0, [], [ty])
        self._store, self._obj = st, st._own(TableInstance(ty, value))
        st._adopt(tables=[self._obj])

    def type(self, store: Storelike) -> TableType:
        self._check(store)
        return self._obj.current_type()

    def size(self, store: Storelike) -> int:
        self._check(store)
        return len(self._obj.elements)

    def grow(self, store: Storelike, amt: int, init: Any = None) -> int:
        """Grow by ``amt`` elements set to ``init``; return the previous size."""
        st = self._check(store)
        if not isinstance(amt, int):
            raise WasmTypeError(f"expected an int number of elements, got {type(amt).__name__}")
        if amt < 0:
            raise WasmError(f"cannot grow a table by {amt!r} elements")
        old = self._obj.grow(amt, to_internal(self._obj.type.element, init, st))
        if old < 0:
            raise WasmError(f"failed to grow table by {amt} elements")
        return old

    def get(self, store: Storelike, idx: int) -> Any:
        """The element at ``idx`` (a Func, an extern object, or None for null); None when
        ``idx`` is out of bounds."""
        st = self._check(store)
        elems = self._obj.elements
        if not 0 <= idx < len(elems):
            return None
        return to_api(self._obj.type.element, elems[idx], st)

    def set(self, store: Storelike, idx: int, val: Any) -> None:
        """Store ``val`` at ``idx``."""
        st = self._check(store)
        elems = self._obj.elements
        if not 0 <= idx < len(elems):
            raise WasmError(f"table index {idx} out of bounds for table of {len(elems)} elements")
        elems[idx] = to_internal(self._obj.type.element, val, st)

    def __repr__(self) -> str:
        obj = self._obj
        return f"<Table {len(obj.elements)} {obj.type.element}{_max_suffix(obj)}>"


class Global(_Extern):
    """A global variable: ``Global(store, GlobalType(ValType.i32(), mutable), value)``."""

    __slots__ = ()

    _obj: GlobalInstance

    def __init__(self, store: Storelike, ty: GlobalType, val: Any) -> None:
        st = resolve_store(store)
        if not isinstance(ty, GlobalType):
            raise TypeError(f"expected a GlobalType, got {type(ty).__name__}")
        if ty.content not in VAL_TYPES and not is_ref(ty.content):
            raise TypeError(f"{ty.content!r} is not a value type")
        self._store, self._obj = st, st._own(GlobalInstance(ty, to_internal(ty.content, val, st)))

    def type(self, store: Storelike) -> GlobalType:
        self._check(store)
        return self._obj.type

    def value(self, store: Storelike) -> Any:
        st = self._check(store)
        return to_api(self._obj.type.content, self._obj.value, st)

    def set_value(self, store: Storelike, val: Any) -> None:
        st = self._check(store)
        if not self._obj.type.mutable:
            raise WasmError("cannot set the value of an immutable global")
        self._obj.value = to_internal(self._obj.type.content, val, st)

    def __repr__(self) -> str:
        ty = self._obj.type
        # The value as the API shows it (a signed integer, a Func), not the tiers' form.
        value = to_api(ty.content, self._obj.value, self._store)
        return f"<Global {'mut ' if ty.mutable else ''}{ty.content} = {value!r}>"


class SharedMemory(Handle):
    """wasmtime-py's ``SharedMemory(engine, MemoryType(limits, shared=True))`` (the threads
    proposal): a memory that belongs to no store, importable by instances of any store of
    the engine, in any Python thread.  Its mapping is reserved up to its maximum (which a
    shared memory must have) and never moves; atomic accesses and ``memory.atomic.wait`` /
    ``notify`` of the instances that import it meet in :mod:`wasmforge.runtime.atomics`."""

    __slots__ = ("_engine", "_obj")

    _obj: MemoryInstance
    _engine: Optional[Engine]

    def __init__(self, engine: Engine, ty: MemoryType) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(f"expected an Engine, got {type(engine).__name__}")
        if not isinstance(ty, MemoryType):
            raise TypeError(f"expected a MemoryType, got {type(ty).__name__}")
        if "threads" not in engine.features:
            raise WasmError("shared memories need the threads proposal (Config.wasm_threads)")
        if not ty.shared:
            raise WasmError("a SharedMemory needs a shared MemoryType (MemoryType(..., shared=True))")
        if ty.limits.max is None:
            raise WasmError("a shared memory must have a maximum")
        bound = MAX_PAGES64 if ty.is_64 else MAX_PAGES
        if ty.limits.max > bound or ty.limits.min > ty.limits.max:
            raise WasmError(f"invalid shared memory limits {ty.limits} (at most {bound} pages)")
        self._engine = engine
        self._obj = MemoryInstance(ty)

    @classmethod
    def _wrap(cls, obj: MemoryInstance) -> "SharedMemory":
        self = cls.__new__(cls)
        self._engine, self._obj = None, obj
        return self

    def type(self) -> MemoryType:
        """The type, with the current size as minimum."""
        return self._obj.current_type()

    def grow(self, delta: int) -> int:
        """Grow by ``delta`` pages; return the previous size in pages."""
        if not isinstance(delta, int):
            raise WasmTypeError(f"expected an int number of pages, got {type(delta).__name__}")
        if delta < 0:
            raise WasmError("cannot grow by negative amount")
        old = self._obj.grow(delta)
        if old < 0:
            raise WasmError(f"failed to grow shared memory by {delta} pages: the maximum is "
                            f"{self._obj.max_pages} pages, the size {self._obj.pages}")
        return old

    def size(self) -> int:
        """The current size in pages."""
        return self._obj.size // 65536

    def data_len(self) -> int:
        """The current size in bytes."""
        return self._obj.size

    def data_ptr(self) -> "ctypes._Pointer[ctypes.c_ubyte]":
        """A raw pointer to byte 0 (not bounds-checked: stay below :meth:`data_len`); the
        mapping never moves."""
        return ctypes.pointer(ctypes.c_ubyte.from_buffer(self._obj.data))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SharedMemory) and other._obj is self._obj

    def __hash__(self) -> int:
        return id(self._obj)


__all__ = ["Module", "ImportType", "ExportType", "Instance", "InstanceExports", "Caller", "Func",
           "Memory", "SharedMemory", "Table", "Global", "wat2wasm"]
