"""The code paths wasmforge takes under Emscripten (Pyodide), exercised on CPython.

test_pyodide.py runs them for real inside Pyodide; these run them here, in every test run,
by switching the platform checks: a linear memory without address-space reservation, a cache
key made without ``os.link``, a ``--timeout``, an outgoing wasi:http request and a name
lookup, ``--profile`` without threads."""

from __future__ import annotations

import os
import stat
import sys
import threading

import pytest
from click.testing import CliRunner

from wasmforge import Config, Engine, Instance, Memory, Module, Store, _cache
from wasmforge.cli import cli
from wasmforge.cm.abi.values import Variant
from wasmforge.errors import WasmError
from wasmforge.runtime import memory as memory_mod
from wasmforge.runtime.memory import MemoryInstance
from wasmforge.types import Limits, MemoryType
from wasmforge.wasip2 import instance_of, p2_ctx, sockets

GROW = ('(module (memory (export "m") 1) (func (export "grow") (param i32) (result i32)'
        ' (memory.grow (local.get 0)))'
        ' (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))'
        ' (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1))))')


@pytest.fixture
def unreserved(monkeypatch):
    monkeypatch.setattr(memory_mod, "_RESERVE", False)


@pytest.fixture
def no_threads(monkeypatch):
    """threading as Pyodide's: no thread can start."""
    def no_thread(self):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(threading.Thread, "start", no_thread)


def test_unreserved_memory_is_as_big_as_its_pages(unreserved):
    mem = MemoryInstance(MemoryType(Limits(2, None)))
    # No 4 GiB reservation: a 32-bit Python cannot make one.
    assert isinstance(mem.data, bytearray) and len(mem.data) == 2 * 65536 == mem.size


def test_unreserved_memory_grows_in_place_for_compiled_code(unreserved):
    config = Config()
    config.strategy = "interp"          # the only tier under Emscripten
    engine = Engine(config)
    store = Store(engine)
    ex = Instance(store, Module(engine, GROW), []).exports(store)
    ex["poke"](store, 65535, 7)
    data = ex["m"]._obj.data
    assert ex["grow"](store, 2) == 1
    # The same object, longer: the interp tier's functions hold it, and see the new pages.
    assert ex["m"]._obj.data is data and len(data) == 3 * 65536
    ex["poke"](store, 3 * 65536 - 1, 9)
    assert (ex["peek"](store, 65535), ex["peek"](store, 3 * 65536 - 1)) == (7, 9)
    assert ex["grow"](store, 65536) == -1 and len(data) == 3 * 65536


def test_unreserved_memory_grow_fails_while_a_view_lives(unreserved):
    mem = MemoryInstance(MemoryType(Limits(1, None)))
    view = mem.view()
    # A bytearray with a buffer export cannot be resized: memory.grow fails (spec 4.5.3.8
    # allows it) rather than leaving the view pointing at freed bytes.
    assert mem.grow(1) == -1 and mem.size == 65536
    view.release()
    assert mem.grow(1) == 1 and mem.size == len(mem.data) == 2 * 65536


def test_unreserved_memory_grow_from_the_api_says_why_it_failed(unreserved):
    engine = Engine()
    store = Store(engine)
    memory = Memory(store, MemoryType(Limits(1, None)))
    view = memory.buffer(store)
    with pytest.raises(WasmError, match="a data_ptr, get_buffer_ptr or buffer of it is still alive"):
        memory.grow(store, 1)
    view.release()
    assert memory.grow(store, 1) == 1
    # at the maximum, the message names the maximum, as on every platform
    with pytest.raises(WasmError, match="the maximum is 65536 pages"):
        memory.grow(store, 65535)


def test_unreserved_memory_too_big_is_a_wasm_error(unreserved):
    with pytest.raises(WasmError, match="cannot allocate a memory of"):
        MemoryInstance(MemoryType(Limits(1 << 40, None), is_64=True))


def test_cache_key_without_os_link(monkeypatch, tmp_path):
    # Emscripten's os has no link(): the key is made in place, private, and a second call
    # reads the same key instead of replacing it.
    monkeypatch.delattr(os, "link")
    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    key = _cache._make_key(str(root))
    assert len(key) == _cache.KEY_SIZE and _cache._make_key(str(root)) == key
    st = (root / _cache.KEY_NAME).stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert [p.name for p in root.iterdir()] == [_cache.KEY_NAME]


def test_timeout_without_threads_is_a_usage_error(no_threads, tmp_path):
    # Pyodide's threading cannot start the --timeout timer: exit 2 with one line saying so.
    path = tmp_path / "spin.wat"
    path.write_text('(module (func (export "_start")))')
    result = CliRunner().invoke(cli, ["run", "--timeout", "5", str(path)])
    assert result.exit_code == 2
    assert "--timeout needs a timer thread, which this Python" in result.output
    assert "bound the run with --fuel instead" in result.output


def test_outgoing_http_without_threads_is_an_error_code(no_threads):
    # An allowed wasi:http request is sent from a thread; where none can start (Pyodide) the
    # guest gets internal-error, not a RuntimeError crossing into it.
    store = Store(Engine())
    ctx = p2_ctx(store)
    ctx.http_allow = [("127.0.0.1", None)]
    types = instance_of(ctx, "wasi:http/types").exports
    req = types["[constructor]outgoing-request"].fn(types["[constructor]fields"].fn())
    types["[method]outgoing-request.set-authority"].fn(req, "127.0.0.1:9")
    handle = instance_of(ctx, "wasi:http/outgoing-handler").exports["handle"].fn

    assert handle(req, None) == Variant("internal-error", "outgoing requests need a thread, which this host "
                                                          "cannot start")


def test_name_lookup_without_threads_runs_in_the_call(no_threads, monkeypatch):
    # wasi:sockets' ip-name-lookup resolves on resolver threads; where none can start
    # (Pyodide) the lookup runs in the guest's call instead of waiting forever in a queue.
    monkeypatch.setattr(sockets, "_resolvers", [])
    stream = sockets.ResolveAddressStream("localhost")
    assert stream.done.is_set() and sockets._resolvers == []
    got = []
    while (item := stream.next()).tag == "some":
        got.append(item.payload)
    assert got, "localhost resolved to no address"


def test_profile_without_threads_is_one_line(no_threads, tmp_path):
    # --profile samples from a thread; where none can start (Pyodide): exit 1 with one line.
    path = tmp_path / "run.wat"
    path.write_text('(module (func (export "_start")))')
    result = CliRunner().invoke(cli, ["run", "--profile", str(tmp_path / "out.json"), str(path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.endswith("the profiler samples from a thread of its own, which this Python "
                                  f"({sys.platform}) cannot start\n")
