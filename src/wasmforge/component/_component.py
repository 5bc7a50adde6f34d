"""wasmtime-py's ``component.Component`` (a validated component) and ``ExportIndex``."""

from __future__ import annotations

import hashlib
import os
from typing import Iterator, List, Optional, Tuple, Union

from .. import _validcache as valid_cache
from ..api import aot
from ..api.engine import Engine
from ..api.handles import Module
from ..binary.encode import encode_module
from ..cm import ast
from ..cm import types as cm
from ..cm.binary import decode_component, encode_component, is_component
from ..cm.instance import Component as RuntimeComponent
from ..cm.text import parse_component
from ..cm.valid import validate_component
from ..errors import DecodeError, Handle, WasmError
from ._types import ComponentType

Source = Union[str, bytes, bytearray]


class ExportIndex(Handle):
    """Where an export is: the path of export names from the component's top level (an
    export of a nested instance has the instance's name first)."""

    __slots__ = ("_path", "_extern")
    _path: Tuple[str, ...]
    _extern: cm.Extern

    def __init__(self) -> None:
        raise WasmError("Cannot directly construct an `ExportIndex`")

    @classmethod
    def _of(cls, path: Tuple[str, ...], extern: cm.Extern) -> "ExportIndex":
        self = cls.__new__(cls)
        self._path, self._extern = path, extern
        return self

    def __repr__(self) -> str:
        return f"ExportIndex({'/'.join(self._path)!r})"


def _export_index(exports: Tuple[Tuple[str, cm.Extern], ...], name: str,
                  instance: Optional[ExportIndex]) -> Optional[ExportIndex]:
    if not isinstance(name, str):
        raise TypeError(f"expected a str export name, got {type(name).__name__}")
    path: Tuple[str, ...] = ()
    if instance is not None:
        if not isinstance(instance, ExportIndex):
            raise TypeError(f"expected an ExportIndex, got {type(instance).__name__}")
        if instance._extern.sort != "instance":
            return None
        inner = instance._extern.type
        assert isinstance(inner, cm.InstanceType)
        exports, path = inner.exports, instance._path
    for n, e in exports:
        if n == name:
            return ExportIndex._of(path + (name,), e)
    return None


def core_modules(c: ast.Component) -> Iterator[ast.CoreModule]:
    """The core modules defined in ``c`` and in its nested components at any depth, in the
    order of the binary."""
    for d in c.definitions:
        if isinstance(d, ast.CoreModule):
            yield d
        elif isinstance(d, ast.Component):
            yield from core_modules(d)


def _encoded(c: ast.Component) -> bytes:
    """The binary of a parsed component; each core module keeps its own binary (``data``), as
    a decoded component's do, so that it goes through the module cache too."""
    for d in core_modules(c):
        if d.data is None:
            d.data = encode_module(d.module)
    return encode_component(c)


def _decode(engine: Engine, wasm: object) -> Tuple[ast.Component, bytes]:
    """The component AST of ``wasm`` (text or binary) and its binary."""
    if isinstance(wasm, str):
        c = parse_component(wasm, features=engine.features)
        return c, _encoded(c)
    if isinstance(wasm, (bytes, bytearray, memoryview)):
        data = bytes(wasm)
        if aot.is_artifact(data):
            raise WasmError("this is a serialized artifact: load it with Component.deserialize")
        if not is_component(data):
            if data[:4] == b"\0asm":
                raise WasmError("expected a component, found a core module (use Module)")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                return decode_component(data), data
            c = parse_component(text, features=engine.features)
            return c, _encoded(c)
        return decode_component(data), data
    raise TypeError(f"expected a str or bytes component, got {type(wasm).__name__}")


class Component(Handle):
    """A component, decoded (or parsed from text) and validated for ``engine``."""

    __slots__ = ("_engine", "_ast", "_wasm", "_type", "_rt", "_modules", "__weakref__")
    _engine: Engine
    _ast: ast.Component
    _wasm: bytes
    _type: cm.ComponentType
    _rt: RuntimeComponent
    #: a core Module per core module of the component (core_modules order)
    _modules: List[Module]

    def __init__(self, engine: Engine, wasm: Source) -> None:
        if not isinstance(engine, Engine):
            raise TypeError("expected an Engine")
        c, binary = _decode(engine, wasm)
        self._init(engine, c, binary)

    def _init(self, engine: Engine, c: ast.Component, binary: bytes) -> None:
        # Each core module is a Module of its bytes (module cache first; on a miss compiled on
        # first use as any Module: lazily, tiered, filling the cache), validated once.
        modules: List[Module] = []
        fresh: List[bytes] = []
        validated = set()
        for d in core_modules(c):
            assert d.data is not None
            m, known = Module._in_component(engine, bytes(d.data), d.module)
            d.module = m._data
            modules.append(m)
            if known:
                validated.add(id(m._data))
            else:
                fresh.append(bytes(d.data))
        self._init_modules(engine, c, binary, modules, frozenset(validated))
        for data in fresh:        # valid: the component validated
            valid_cache.remember_valid(data, engine.features)

    def _init_modules(self, engine: Engine, c: ast.Component, binary: bytes, modules: List[Module],
                      validated: "frozenset[int]") -> None:
        self._engine = engine
        self._modules = modules
        self._rt = RuntimeComponent(c, features=engine.features, engine=engine,      # validates it
                                    core_code={id(m._data): m._compiled for m in modules},
                                    validated=validated)
        self._type = self._rt.type
        self._ast = c
        self._wasm = binary

    def _runtime(self) -> RuntimeComponent:
        return self._rt

    @classmethod
    def from_file(cls, engine: Engine, path: Union[str, bytes, "os.PathLike[str]"]) -> "Component":
        """The component in the file at ``path`` (binary or text)."""
        with open(path, "rb") as f:
            return cls(engine, f.read())

    @staticmethod
    def validate(engine: Engine, wasm: Source) -> None:
        """Raise a WasmtimeError if ``wasm`` is not a valid component (extension: wasmtime-py
        has this for modules only)."""
        if not isinstance(engine, Engine):
            raise TypeError("expected an Engine")
        c, _ = _decode(engine, wasm)
        validate_component(c, features=engine.features)

    @classmethod
    def deserialize(cls, engine: Engine, encoded: Union[bytes, bytearray]) -> "Component":
        """The component of an artifact made by :meth:`serialize` (same wasmforge version and
        engine settings; a tampered artifact is refused)."""
        if not isinstance(encoded, (bytes, bytearray)):
            raise TypeError("expected bytes")
        wasm, hashes, arts = aot.deserialize_component(engine, encoded)
        # Each core module from its module artifact: neither validated nor compiled again, nor
        # decoded (the component's decoder takes them as they are: for componentize-js's
        # handler, 0.24-0.29 s of a 2.4-2.5 s load), nor checksummed again (the component
        # artifact's checksum covers them, and they are most of its bytes).
        modules = [aot.deserialize(Module, engine, art, verified=True) for art in arts]
        mismatch = WasmError("corrupted artifact: its core modules do not match the component")
        try:
            c = decode_component(wasm, core=[m._data for m in modules])
        except DecodeError:
            raise mismatch from None
        defs = list(core_modules(c))
        if len(defs) != len(hashes) or any(
                d.data is None or hashlib.sha256(d.data).hexdigest() != h for d, h in zip(defs, hashes)):
            raise mismatch
        self = cls.__new__(cls)
        self._init_modules(engine, c, wasm, modules, frozenset(id(m._data) for m in modules))
        return self

    @classmethod
    def deserialize_file(cls, engine: Engine, path: str) -> "Component":
        with open(path, "rb") as f:
            return cls.deserialize(engine, f.read())

    def serialize(self) -> bytearray:
        """This component as an artifact for :meth:`deserialize`: its binary and the module
        artifact of each core module (on the llvm tier its machine code, compiled now if it
        was not yet: see ``Module.serialize``)."""
        binaries = [bytes(d.data) for d in core_modules(self._ast) if d.data is not None]
        return bytearray(aot.serialize_component(self._engine, self._wasm, list(zip(binaries, self._modules))))

    def get_export_index(self, name: str, instance: Optional[ExportIndex] = None) -> Optional[ExportIndex]:
        """The index of export ``name`` (of the nested instance ``instance`` if given), or None."""
        return _export_index(self._type.exports, name, instance)

    @property
    def type(self) -> ComponentType:
        return ComponentType._of(self._type, root=True)

    def __repr__(self) -> str:
        return f"<Component exports={[n for n, _ in self._type.exports]}>"


__all__ = ["Component", "ExportIndex"]
