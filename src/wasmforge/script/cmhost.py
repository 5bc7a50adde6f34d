"""The host that wasmtime's component scripts link against (wasmtime's
``crates/wast/src/spectest.rs``, ``link_component_spectest``): functions ``host-return-two``,
``host-echo-u32``, an instance ``host`` with ``return-three``, ``nested.return-four``, the core
module ``simple-module``, the host resources ``resource1`` (also as ``resource1-again``) and
``resource2`` with their functions.  The asynchronous host functions are linked (their type
is the one the import asks for) and raise NotSupportedError when called."""

from __future__ import annotations

from typing import Any, Dict

from ..cm.abi.resources import Resource
from ..cm.instance import ComponentInstance, HostFunction
from ..cm.types import FuncType, Primitive, ResourceType
from ..errors import NotSupportedError, Trap
from ..text.parser import parse_module

#: wasmtime's implementation limit on the byte length of a string crossing the canonical ABI
#: (its big-strings.wast lets strings of up to 2**31 - 1 bytes reach ``realloc``), which its
#: scripts assume.  The spec's MAX_STRING_BYTE_LENGTH is 2**28 - 1 (definitions.py at
#: component-model 6d28164), and that stays wasmforge's default: the test host alone raises it.
WASMTIME_MAX_STRING_BYTES = (1 << 31) - 1

U32 = Primitive("u32")
STRING = Primitive("string")

_SIMPLE_MODULE = """(module (global (export "g") i32 i32.const 100)
                            (func (export "f") (result i32) i32.const 101))"""


def _async(*args: Any) -> Any:
    raise NotSupportedError("wasmtime's asynchronous test host functions are not supported")


class _Drops:
    def __init__(self) -> None:
        self.drops = 0
        self.last = 0

    def dtor(self, rep: int) -> None:
        self.drops += 1
        self.last = rep


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise Trap(f"test host assertion failed: {what}")


def component_spectest() -> Dict[str, Any]:
    """The test host's imports, by name (fresh resource types and counters each call)."""
    drops = _Drops()
    r1 = ResourceType("resource1", "i32", drops.dtor, host=True)
    r2 = ResourceType("resource2", "i32", lambda rep: None, host=True)

    def fn(params: tuple, result: Any, f: Any) -> HostFunction:
        return HostFunction(FuncType(tuple((f"p{i}", p) for i, p in enumerate(params)), result), f)

    def simple(res: Resource, rep: int) -> None:
        _check(not res.owned and res.rep == rep, "resource1.simple")

    def take_borrow(a: Resource, b: Resource) -> None:
        _check(not a.owned and not b.owned, "resource1.take-borrow")

    def take_own(a: Resource, b: Resource) -> None:
        _check(not a.owned and b.owned, "resource1.take-own")

    def assert_rep(res: Resource, rep: int) -> None:
        _check(res.rep == rep, "resource1.assert")

    nested = ComponentInstance({"return-four": fn((), U32, lambda: 4)})
    host = ComponentInstance({
        "return-three": fn((), U32, lambda: 3),
        "nested": nested,
        "simple-module": parse_module(_SIMPLE_MODULE),
        "resource1": r1,
        "resource2": r2,
        "resource1-again": r1,
        # own/borrow resource parameters: typed by the import (wasmtime's Resource<T> is either)
        "[constructor]resource1": HostFunction(None, lambda rep: Resource(r1, rep, True)),
        "[static]resource1.assert": HostFunction(None, assert_rep),
        "[static]resource1.last-drop": fn((), U32, lambda: drops.last),
        "[static]resource1.drops": fn((), U32, lambda: drops.drops),
        "[method]resource1.simple": HostFunction(None, simple),
        "[method]resource1.take-borrow": HostFunction(None, take_borrow),
        "[method]resource1.take-own": HostFunction(None, take_own),
        "never-return": HostFunction(None, _async),
        "return-two-slowly": HostFunction(None, _async),
        "echo-slowly": HostFunction(None, _async),
        "[method]resource1.never-return": HostFunction(None, _async),
        "return-hi": fn((), STRING, lambda: "hi"),
    })
    return {"host-echo-u32": fn((U32,), U32, lambda v: v), "host-return-two": fn((), U32, lambda: 2),
            "host": host}
