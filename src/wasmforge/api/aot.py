"""Ahead-of-time artifacts: a module and its compiled machine code in one file
(``Module.serialize`` / ``Module.deserialize``, ``wasmforge compile``).

Layout (integers little-endian)::

    magic           8 bytes  b"\\0wfcwasm"
    format version  u32      FORMAT_VERSION
    header length   u32      then the header: UTF-8 JSON, keys sorted
    module length   u64      then the module's binary encoding
    object length   u64      then the tier's machine code (length 0 on a tier without machine code):
                             on the llvm tier an image linked ahead of time (llvm/loader.py
                             ``link``: mapped with one copy and a few patches), or the object
                             file where our loader does not run
    described len.  u64      then the decoded module, pickled (version 2 on)
    checksum        32 bytes SHA-256 of everything before it

The header records what the machine code depends on; loading compares it with what this
engine and host would produce and refuses any difference, naming it.  On the interp tier
an artifact holds the module only (the tier translates on first call anyway): loading it
skips validation and nothing else.

The decoded module is stored (pickled) beside its binary so that loading need not decode the
binary again: function bodies stay raw (views of the binary, decoded on use), everything
else is unpickled as it was decoded, about 3x faster than decoding for a real program.

An artifact is trusted input, like a shared library: the checksum detects truncation and
accidental corruption, not tampering (anyone can recompute it), and loading one runs its
machine code unverified (and unpickles its module description: no more trust than that).  So ``wasmforge run`` loads one only with ``--allow-precompiled``
(wasmtime's flag), whatever the file is called; :func:`is_artifact` is how it tells.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Type, TypeVar, Union

from .._log import get_logger
from .._version import __version__
from ..binary.decode import _BodyContext, _streaming_decoder, decode_module
from ..binary.encode import encode_module
from ..errors import WasmError
from ..module import Func
from ..module import Module as ModuleData
from .engine import Engine

#: Artifacts loaded (docs/observability.md): DEBUG, silent unless the host configures logging.
log = get_logger("wasmforge.artifact")

if TYPE_CHECKING:
    from .handles import Module

_M = TypeVar("_M", bound="Module")

MAGIC = b"\0wfcwasm"
FORMAT_VERSION = 8     # 2: the decoded module pickled beside the binary; 3: linked code;
#                        4: the linked code's trailer holds its call sites (llvm/unwind.py);
#                        5: the trailer's call sites are the inline chains of the code
#                        6: functions with more than two results take a result pointer
#                        (llvm/prelude.REG_RESULTS)
#                        7: the code marks its use of the GC proposal (@wf_gc), which
#                        older code of a GC module does not (llvm/instance.py _uses_gc)
#                        8: an inlined copy's shadow-stack entry also names its call
#                        (llvm/copies.py), which older wasmforge would read as a function
_PREFIX = struct.Struct("<8sII")
_LEN = struct.Struct("<Q")
_CHECKSUM_SIZE = 32

# Header keys compared on load, in the order differences are reported (then the keys of the
# tier's artifact_header, runtime/tier.py, in its order).
_ENGINE_KEYS = ("wasmforge", "tier", "consume_fuel", "epoch_interruption", "features")


def is_artifact(data: Union[bytes, bytearray, memoryview]) -> bool:
    """Whether ``data`` starts like an artifact: ``wasmforge run`` refuses it unless
    ``--allow-precompiled`` is given."""
    return bytes(data[:len(MAGIC)]) == MAGIC


def artifact_header(data: Union[bytes, bytearray, memoryview]) -> Optional[Dict[str, Any]]:
    """The header of the artifact ``data`` as written (nothing checked but the framing of the
    header itself: no checksum, no engine), or None when ``data`` has no readable header (not
    an artifact, truncated, another format version).  Enough to tell what an artifact holds
    before loading it (:func:`artifact_kind`) and to describe it (``wasmforge inspect``)."""
    if len(data) < _PREFIX.size or not is_artifact(data):
        return None
    _, version, head_len = _PREFIX.unpack_from(data)
    if version != FORMAT_VERSION or len(data) < _PREFIX.size + head_len:
        return None
    try:
        header = json.loads(bytes(data[_PREFIX.size:_PREFIX.size + head_len]))
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def artifact_kind(data: Union[bytes, bytearray, memoryview]) -> Optional[str]:
    """``"component"`` for an artifact of ``Component.serialize``, ``"module"`` for one of
    ``Module.serialize``, ``"unknown"`` for one whose header cannot be read (either loader
    then says what is wrong with it: truncated, another format version...), None when
    ``data`` is not an artifact at all."""
    if not is_artifact(data):
        return None
    header = artifact_header(data)
    if header is None:
        return "unknown"
    return "component" if "component_sha256" in header else "module"


def _engine_header(engine: Engine) -> Dict[str, Any]:
    """The header fields an artifact must have to be loaded by ``engine`` on this host."""
    header: Dict[str, Any] = {"wasmforge": __version__, "tier": engine.strategy,
              "consume_fuel": bool(engine.consume_fuel),
              "epoch_interruption": bool(engine.epoch_interruption),
              "features": sorted(engine.features)}
    artifact_header = getattr(engine.tier, "artifact_header", None)
    if artifact_header is not None:
        header.update(artifact_header(engine.opt_level))
    return header


def serialize(module: Module) -> bytes:
    """The artifact of ``module`` (a runtime ``Module``), compiling it first if need be."""
    engine = module.engine
    data = module._data
    binary = module._binary
    if binary is not None:
        # A module cache hit did not read the data segments (llvm/__init__.py cached_module):
        # the artifact's binary needs them, so the module is decoded again (bodies lazily).
        data = decode_module(binary, features=engine.features, lazy=True)
    wasm = encode_module(data)
    header = _engine_header(engine)
    header["module_sha256"] = hashlib.sha256(wasm).hexdigest()
    obj = b""
    if hasattr(engine.tier, "from_artifact") and module._data.funcs:
        code = module._compiled()
        obj = code.object_code
        link = getattr(engine.tier, "link_object", None)
        if link is not None:
            obj = link(obj)         # stored ready to map (llvm: a linked image)
        header["entry_of"] = list(code.entry_of)
    head = json.dumps(header, sort_keys=True).encode()
    desc = _describe_module(wasm, module._data.__dict__.get("known_gc"))
    body = b"".join((_PREFIX.pack(MAGIC, FORMAT_VERSION, len(head)), head,
                     _LEN.pack(len(wasm)), wasm, _LEN.pack(len(obj)), obj,
                     _LEN.pack(len(desc)), desc))
    return body + hashlib.sha256(body).digest()


class _Describer(pickle.Pickler):
    """Pickles a lazily decoded module: each function as (type index, locals, offset and
    length of its body in the binary), rebuilt by :class:`_Reader` over the loaded binary."""

    def persistent_id(self, obj: object) -> Optional[Tuple[Any, ...]]:
        if type(obj) is Func:
            return (obj.typeidx, obj.locals, obj.code_offset, len(obj._code), obj.body_offset)
        return None


_new = object.__new__


class _Reader(pickle.Unpickler):
    def __init__(self, desc: Union[bytes, memoryview], wasm: bytes, decoder: Any) -> None:
        super().__init__(io.BytesIO(desc))
        self.view = memoryview(wasm)
        self.decoder = decoder

    def persistent_load(self, pid: Any) -> Func:
        # (type index, locals, offset and length of the body, where the body starts)
        typeidx, locals_, offset, size, start = pid
        # Made without Func.__init__, its slots set as __init__ sets them: the keyword
        # handling and the copy of the (freshly unpickled) locals cost a real program's
        # load about a microsecond per function.
        f = _new(Func)
        f.typeidx, f.locals, f._body, f._code, f.code_offset, f._decode, f.body_offset = \
            typeidx, locals_, None, self.view[offset:offset + size], offset, self.decoder, start
        return f

    def find_class(self, module: str, name: str) -> Any:
        # The description is ours (checksummed with the machine code it travels with): it
        # names wasmforge's classes and the opcode table's lookup, nothing else.  (Not a
        # defence against a forged artifact, whose machine code runs anyway: a clear error
        # for a wrong one.)  The classes accepted are remembered: a description names a
        # dozen, and each lookup through the pickle machinery costs microseconds.
        obj = _classes.get((module, name))
        if obj is not None:
            return obj
        if module.startswith("wasmforge.") and "." not in name and not name.startswith("__"):
            obj = super().find_class(module, name)
        if not (isinstance(obj, type) or (module, name) == ("wasmforge.opcodes", "_op_by_id")):
            raise WasmError(f"malformed artifact: foreign class {module}.{name} in its module")
        _classes[(module, name)] = obj
        return obj


# What _Reader.find_class accepted, by (module, name).
_classes: Dict[Tuple[str, str], Any] = {}


def _describe_module(wasm: bytes, known_gc: Optional[bool] = None) -> bytes:
    """The module decoded from ``wasm`` (bodies raw), pickled for :func:`_load_module`, with
    whether it uses the GC proposal when that is known (``Module.uses_gc`` then decodes no
    body after loading)."""
    module = decode_module(wasm, lazy=True)
    if known_gc is not None:
        module.__dict__["known_gc"] = known_gc      # (Module.uses_gc reads it there)
    out = io.BytesIO()
    _Describer(out, protocol=pickle.HIGHEST_PROTOCOL).dump(module)
    return out.getvalue()


def _load_module(desc: Union[bytes, memoryview], wasm: bytes) -> ModuleData:
    """The module :func:`_describe_module` pickled, its bodies views of ``wasm``, decoded on
    use by the binary decoder's own body decoder."""
    try:
        module = _Reader(desc, wasm, None).load()
    except WasmError:
        raise
    except Exception:
        raise WasmError("malformed artifact: its module description does not load") from None
    if not isinstance(module, ModuleData):
        raise WasmError("malformed artifact: its module description is not a module")
    # Bodies need the decoding context of the binary (whether it has a data count section).
    decoder = _streaming_decoder(wasm, _BodyContext(module.data_count is not None, True))
    for f in module.funcs:
        f._decode = decoder
    return module


# Parsed artifact headers by their bytes (a process loads the artifacts of a few engines'
# settings, each many times); read-only for the callers.
_headers: Dict[bytes, Any] = {}


def _header(head: bytes) -> Any:
    header = _headers.get(head)
    if header is None:
        header = json.loads(head)
        if len(_headers) >= 64:
            _headers.clear()
        _headers[head] = header
    return header


def _checked(data: Union[bytes, memoryview], verified: bool = False) -> bytes:
    """The checksum of ``data`` after checking the magic, the format version and the
    checksum itself (unless ``verified``: a checksum around ``data`` matched already);
    WasmError else."""
    if len(data) < _PREFIX.size or not is_artifact(data):
        if is_artifact(data):
            raise WasmError("truncated artifact")
        raise WasmError("not a wasmforge artifact (bad magic; compile one with `wasmforge compile`)")
    _, version, head_len = _PREFIX.unpack_from(data)
    if version != FORMAT_VERSION:
        raise WasmError(f"artifact format version {version} is not supported "
                        f"(this wasmforge reads version {FORMAT_VERSION}); recompile it")
    if len(data) < _PREFIX.size + _CHECKSUM_SIZE:
        raise WasmError("truncated artifact")
    digest = bytes(data[-_CHECKSUM_SIZE:])    # (a key of _modules: bytes, also of a view)
    if not verified and hashlib.sha256(memoryview(data)[:-_CHECKSUM_SIZE]).digest() != digest:
        raise WasmError("corrupted or truncated artifact (checksum mismatch)")
    return digest


def _split(data: bytes) -> Tuple[Dict[str, Any], memoryview, memoryview, memoryview]:
    """(header dict, module bytes, object bytes, module description) of a well-formed
    artifact, as views of ``data``; WasmError else."""
    _checked(data)
    return _sections(data)


def _sections(data: Union[bytes, memoryview]) -> Tuple[Dict[str, Any], memoryview, memoryview, memoryview]:
    """:func:`_split` of an artifact whose checksum was checked."""
    _, _, head_len = _PREFIX.unpack_from(data)
    body = memoryview(data)[:-_CHECKSUM_SIZE]
    # The checksum matched, so the lengths below are the writer's; still check them, so that
    # a hand-made artifact gets an error rather than a struct.error or a short slice.  The
    # module and object are views of ``data``, not copies (the caller copies what it keeps).
    pos = _PREFIX.size + head_len
    try:
        header = _header(bytes(body[_PREFIX.size:pos]))
        (wasm_len,) = _LEN.unpack_from(body, pos)
        pos += _LEN.size
        wasm = body[pos:pos + wasm_len]
        pos += wasm_len
        (obj_len,) = _LEN.unpack_from(body, pos)
        pos += _LEN.size
        obj = body[pos:pos + obj_len]
        pos += obj_len
        (desc_len,) = _LEN.unpack_from(body, pos)
        pos += _LEN.size
        desc = body[pos:pos + desc_len]
        pos += desc_len
    except (ValueError, struct.error):
        raise WasmError("malformed artifact (bad header or section lengths)") from None
    if not isinstance(header, dict) or len(wasm) != wasm_len or len(obj) != obj_len \
            or len(desc) != desc_len or pos != len(body):
        raise WasmError("malformed artifact (bad header or section lengths)")
    return header, wasm, obj, desc


def describe_artifact(data: bytes) -> Dict[str, Any]:
    """What the artifact ``data`` holds, for ``wasmforge inspect``: its kind (``"module"`` or
    ``"component"``), format version and sizes, the engine settings it was made with (it loads
    only where they are the same: :func:`check_header`; not compared here), and a component's
    number of core modules.  WasmError, the loader's, when it is damaged (truncated, checksum
    mismatch, another format version)."""
    _checked(data)
    header, wasm, obj, _ = _sections(data)
    component = "component_sha256" in header
    info: Dict[str, Any] = {
        "artifact": "component" if component else "module", "format_version": FORMAT_VERSION,
        "size": len(data), "binary_size": len(wasm),
        "settings": {k: v for k, v in header.items() if k not in ("module_sha256", "component_sha256", "core_modules")},
    }
    if component:
        info["core_modules"] = len(header.get("core_modules") or ())
    else:
        info["machine_code_size"] = len(obj)
    return info


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"


# What _engine_header gives per engine setting: the same on every load in a process (the
# settings are fixed when an Engine is made, the host does not change).
_wanted: Dict[Tuple[Any, ...], Dict[str, Any]] = {}


def check_header(header: Dict[str, Any], engine: Engine) -> None:
    """Raise WasmError naming every field of ``header`` that differs from what ``engine``
    on this host would write."""
    settings = (engine.strategy, bool(engine.consume_fuel), bool(engine.epoch_interruption),
                engine.opt_level, engine.features)
    # A header parsed once (_header) and found to match these settings needs no second look.
    if _matched.get(id(header)) == (header, settings):
        return
    want = _wanted.get(settings)
    if want is None:
        want = _wanted[settings] = _engine_header(engine)
    keys = _ENGINE_KEYS + tuple(k for k in want if k not in _ENGINE_KEYS)
    diffs = [f"{k} is {_describe(header.get(k))} in the artifact but {_describe(want[k])} here"
             for k in keys if header.get(k) != want[k]]
    if diffs:
        raise WasmError("incompatible artifact: " + "; ".join(diffs))
    if len(_matched) >= 64:
        _matched.clear()
    # (the header itself is kept too: its id stays its own while the entry lives)
    _matched[id(header)] = (header, settings)


# Headers that matched an engine's settings, by id: (the header, the settings).
_matched: Dict[int, Tuple[Any, Any]] = {}


# The headers, module descriptions and machine code (as bytes) of the artifacts loaded last, by the
# artifact's checksum (SHA-256 of its content, checked on every load): a server loading one
# artifact per request unpickles its description once.  Bounded, oldest dropped first.
# (header, module, machine code, entry table, the artifact's size)
_modules: Dict[bytes, Tuple[Dict[str, Any], ModuleData, bytes, Optional[List[int]], int]] = {}
_MODULES_KEPT = 32
# ... and at most this many artifact bytes in all (an entry keeps about its artifact's size:
# the binary its description's bodies are views of, the machine code): an artifact larger
# than a quarter of it is not kept.
_MODULES_BYTES = 64 << 20
_keep_lock = threading.Lock()


def _keep(digest: bytes, header: Dict[str, Any], module: ModuleData, code: bytes,
          entry_of: Optional[List[int]], size: int) -> None:
    if size > _MODULES_BYTES // 4:
        return
    with _keep_lock:
        total = sum(entry[4] for entry in _modules.values())
        while _modules and (len(_modules) >= _MODULES_KEPT or total + size > _MODULES_BYTES):
            total -= _modules.pop(next(iter(_modules)))[4]      # the oldest
        _modules[digest] = (header, module, code, entry_of, size)


def _load(header: Dict[str, Any], wasm: memoryview, obj: memoryview, desc: memoryview,
          engine: Engine) -> Tuple[ModuleData, bytes, Optional[List[int]]]:
    """What :func:`deserialize` keeps of an artifact (checked, checksum matched): its module,
    its machine code and the entry trampoline of each function (None when the engine's tier
    runs the module without machine code)."""
    if header.get("module_sha256") != hashlib.sha256(wasm).hexdigest():
        raise WasmError("corrupted artifact: the module does not match its hash")
    # The module as it was decoded when the artifact was made, not decoded again; function
    # bodies are decoded on use only: the machine code is in the artifact, so on a tier with
    # machine code most bodies are never read (and the interp tier translates on first call).
    module = _load_module(desc, bytes(wasm))
    entry_of = None
    if getattr(engine.tier, "from_artifact", None) is not None and module.funcs:
        entry_of = header.get("entry_of")
        if not obj or not isinstance(entry_of, list) or len(entry_of) != len(module.funcs) \
                or not all(type(k) is int and 0 <= k < len(entry_of) for k in entry_of):
            raise WasmError("malformed artifact: no machine code for the module's functions")
        entry_of = list(entry_of)
    # The machine code as bytes of its own: compiled modules keep it (to serialize again, and
    # for backtraces), and a view would keep the whole artifact alive.
    return module, bytes(obj), entry_of


def deserialize(cls: Type[_M], engine: Engine, data: Union[bytes, bytearray, memoryview],
                verified: bool = False) -> _M:
    """A ``cls`` (runtime ``Module``) from an artifact made by :func:`serialize`, neither
    validated nor compiled again.  ``verified``: ``data`` is a view of the immutable bytes of
    an artifact whose checksum matched (a component's core module), so its own is not computed
    again, nor is ``data`` copied (what the module keeps, :func:`_load` copies)."""
    if not isinstance(engine, Engine):
        raise TypeError(f"expected an Engine, got {type(engine).__name__}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected the artifact as bytes, got {type(data).__name__}")
    if isinstance(data, bytearray) or (isinstance(data, memoryview) and not verified):
        data = bytes(data)
    # Once the checksum of these bytes is computed and matches (_checked), an artifact with
    # the same checksum loaded before in this process had the same content: its header and
    # what was made of it (the module description, immutable once loaded) serve again.
    digest = _checked(data, verified)
    loaded = _modules.get(digest)
    if loaded is not None:
        header, module, code_bytes, entry_of, _ = loaded
        check_header(header, engine)
    else:
        header, wasm, obj, desc = _sections(data)
        check_header(header, engine)
        if "component_sha256" in header:
            raise WasmError("the artifact holds a component, not a core module (use Component.deserialize)")
        module, code_bytes, entry_of = _load(header, wasm, obj, desc, engine)
        _keep(digest, header, module, code_bytes, entry_of, len(data))
    code = None
    if entry_of is not None:
        code = engine.tier.from_artifact(module, code_bytes, entry_of, engine.consume_fuel,
                                         engine.epoch_interruption, engine.opt_level, key=digest)
    log.debug("artifact loaded (%d bytes, %d functions, %s)", len(data), len(module.funcs),
              "machine code mapped" if code is not None else "compiled again: no code for this tier")
    self = cls.__new__(cls)
    self.engine = engine
    self._data = module
    module.backtrace_details = engine.backtrace_details
    # The artifact holds the module re-encoded (serialize): its code is no longer where the
    # DWARF of its custom sections says, so frames get no source lines rather than wrong ones.
    module.code_section_offset = None
    self._code = code
    return self


# ----- components (wasmforge.component.Component.serialize) -----
#
# A component artifact has the module artifact's framing; its header names the component's
# hash (``component_sha256``, where a module's names ``module_sha256``) and the hash of each
# core module's binary as it is in the component (``core_modules``, in the order of the
# binary, nested components included), and its object section holds one module artifact per
# core module, each a u64 length then the artifact :func:`serialize` makes of that core
# module's ``Module`` (its machine code on the llvm tier).  Its description section is empty.

def serialize_component(engine: Engine, wasm: bytes, modules: "List[Tuple[bytes, Module]]") -> bytes:
    """The artifact of a component (its binary ``wasm``) for ``engine``, with the module
    artifact of each of its core modules (``modules``: their binaries as in the component
    and their ``Module``s, compiled now if they were not yet)."""
    header = _engine_header(engine)
    header["component_sha256"] = hashlib.sha256(wasm).hexdigest()
    header["core_modules"] = [hashlib.sha256(binary).hexdigest() for binary, _ in modules]
    head = json.dumps(header, sort_keys=True).encode()
    arts = b"".join(_LEN.pack(len(a)) + a for a in (serialize(m) for _, m in modules))
    body = b"".join((_PREFIX.pack(MAGIC, FORMAT_VERSION, len(head)), head,
                     _LEN.pack(len(wasm)), wasm, _LEN.pack(len(arts)), arts, _LEN.pack(0)))
    return body + hashlib.sha256(body).digest()


def deserialize_component(engine: Engine, data: Union[bytes, bytearray, memoryview]
                          ) -> Tuple[bytes, List[str], List[memoryview]]:
    """The component binary of an artifact made by :func:`serialize_component`, after the
    checks a module artifact gets (checksum, engine settings, the binary's hash), the hashes
    of its core modules' binaries and their module artifacts (for :func:`deserialize`)."""
    if not isinstance(engine, Engine):
        raise TypeError(f"expected an Engine, got {type(engine).__name__}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected the artifact as bytes, got {type(data).__name__}")
    header, wasm, arts, _desc = _split(data if type(data) is bytes else bytes(data))
    check_header(header, engine)
    if "component_sha256" not in header:
        raise WasmError("the artifact holds a core module, not a component (use Module.deserialize)")
    if header["component_sha256"] != hashlib.sha256(wasm).hexdigest():
        raise WasmError("corrupted artifact: the component does not match its hash")
    hashes = header.get("core_modules")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise WasmError("malformed artifact: no compiled core modules (made by an older wasmforge? "
                        "serialize the component again)")
    out: List[memoryview] = []
    pos = 0
    try:
        while pos < len(arts):
            (n,) = _LEN.unpack_from(arts, pos)
            pos += _LEN.size
            out.append(arts[pos:pos + n])
            pos += n
    except struct.error:
        raise WasmError("malformed artifact (bad core module lengths)") from None
    if pos != len(arts) or len(out) != len(hashes):
        raise WasmError("malformed artifact (bad core module lengths)")
    return bytes(wasm), hashes, out
