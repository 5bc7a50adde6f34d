"""WASI 0.2 through ``Linker.add_wasip2()``: a component (wasip2_kit.wat, in the component text
format) importing wasi:io, wasi:cli, wasi:clocks and wasi:random at several 0.2.x versions,
run on both tiers with the store's WasiConfig (``Store.set_wasi``)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import wasmforge
from wasmforge import component as C
from wasmforge.component import Variant
from wasmforge.errors import ExitTrap, LinkError, Trap
from wasmforge.wasip2 import IMPLEMENTATIONS, instance_of, io, p2_ctx
from wasmforge.wasip2._wit import interface

from support import tier_params

KIT = (Path(__file__).parent / "wasip2_kit.wat").read_text()


def kit(tier, configure=None, component=KIT):
    config = wasmforge.Config()
    config.strategy = tier
    engine = wasmforge.Engine(config)
    store = wasmforge.Store(engine)
    wasi = wasmforge.WasiConfig()
    if configure:
        configure(wasi)
    store.set_wasi(wasi)
    linker = C.Linker(engine)
    linker.add_wasip2()
    inst = linker.instantiate(store, C.Component(engine, component))
    return lambda name, *args: inst.get_func(store, name)(store, *args)


def captured(out):
    def configure(w):
        w.stdout_custom = out.append
    return configure


@pytest.mark.parametrize("tier", tier_params())
def test_stdout_callback_receives_what_the_guest_writes(tier):
    out = []
    f = kit(tier, captured(out))
    assert f("hello") == 0
    assert out == [b"hello, p2\n"]


@pytest.mark.parametrize("tier", tier_params())
def test_stdout_to_a_file_and_discarded_by_default(tier, tmp_path):
    path = tmp_path / "out.txt"
    f = kit(tier, lambda w: setattr(w, "stdout_file", str(path)))
    assert f("hello") == 0 and f("hello") == 0
    assert path.read_bytes() == b"hello, p2\n" * 2
    assert kit(tier)("hello") == 0          # no stdout given: written to nothing, still ok


@pytest.mark.parametrize("tier", tier_params())
def test_stdin_bytes_copied_to_stdout_until_closed(tier):
    out = []

    def configure(w):
        w.stdin_bytes = b"abcdefg"
        w.stdout_custom = out.append
    f = kit(tier, configure)
    assert f("cat") == 7
    assert out == [b"abc", b"def", b"g"]        # blocking-read of 3 bytes at a time
    assert kit(tier, captured([]))("cat") == 0  # no stdin: closed at once


def test_poll_waits_on_a_pipe_and_a_timer_at_once():
    """wasi:io/poll over an input stream of a pipe (as an inherited stdin is) and a timer:
    blocks in select() until the writer thread writes, without spinning."""
    r, w = os.pipe()
    try:
        stream = io.FdInput(r)
        assert stream.read(10) == b""                   # nothing yet: a non-blocking read is empty
        readable, never = stream.subscribe(), io.timer(time.monotonic_ns() + 10**10)
        threading.Timer(0.2, os.write, (w, b"data")).start()
        t0, c0 = time.monotonic(), time.process_time()
        assert io.poll([never, readable]) == [1]
        assert time.monotonic() - t0 >= 0.15 and time.process_time() - c0 < 0.1
        assert stream.read(10) == b"data"
        os.close(w)
        with pytest.raises(io.StreamError):             # end of file: closed
            stream.read(10)
        with pytest.raises(io.StreamError):
            stream.read(10)
    finally:
        os.close(r)


def test_output_backpressure_on_a_full_pipe():
    r, w = os.pipe()
    try:
        os.set_blocking(w, False)
        try:
            while True:
                os.write(w, b"x" * 65536)
        except BlockingIOError:
            pass
        os.set_blocking(w, True)
        out = io.FdOutput(w)
        assert out.check_write() == 0                   # full: no permit
        ready = out.subscribe()
        assert not ready.ready()
        threading.Timer(0.1, os.read, (r, 1 << 20)).start()
        io.poll([ready])                                # drained by the reader thread
        assert out.check_write() == io.PIPE_WRITE
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("tier", tier_params())
def test_write_permits_and_the_permit_overrun_traps(tier):
    out = []
    f = kit(tier, captured(out))
    assert f("check-write") == 1 << 20
    assert f("write", 3) == 0 and out == [b"hel"]


@pytest.mark.parametrize("tier", tier_params())
def test_an_exception_of_the_stdout_callback_reaches_the_caller(tier):
    def boom(data):
        raise KeyError("from the callback")
    f = kit(tier, lambda w: setattr(w, "stdout_custom", boom))
    with pytest.raises(KeyError, match="from the callback"):
        f("hello")


@pytest.mark.parametrize("tier", tier_params())
def test_exit_passes_the_status_through(tier):
    f = kit(tier)
    with pytest.raises(ExitTrap) as ok:
        f("exit", Variant("ok"))
    assert ok.value.code == 0
    with pytest.raises(ExitTrap) as err:
        f("exit", Variant("err"))
    assert err.value.code == 1


@pytest.mark.parametrize("tier", tier_params())
def test_arguments_and_environment(tier):
    def configure(w):
        w.argv = ["prog", "b\u00e9", ""]
        w.env = {"A": "1", "EMPTY": "", "K": "v=w"}
    f = kit(tier, configure)
    assert f("args") == ["prog", "b\u00e9", ""]
    assert f("env") == [("A", "1"), ("EMPTY", ""), ("K", "v=w")]
    g = kit(tier)
    assert g("args") == [] and g("env") == []


@pytest.mark.parametrize("tier", tier_params())
def test_virtual_clocks(tier):
    def configure(w):
        w.wall_clock = lambda: 1_700_000_000_123_456_789
        w.monotonic_clock = lambda: 42
    f = kit(tier, configure)
    assert f("wall") == (1_700_000_000, 123_456_789)
    assert f("mono") == 42 and f("mono") == 42


@pytest.mark.parametrize("tier", tier_params())
def test_host_clocks(tier):
    f = kit(tier)
    before = time.time()
    secs, nanos = f("wall")
    assert before - 1 <= secs + nanos / 1e9 <= time.time() + 1
    a = f("mono")
    b = f("mono")
    assert 0 < a <= b


@pytest.mark.parametrize("tier", tier_params())
def test_timers_block_without_spinning_and_poll_reports_the_ready_ones(tier):
    f = kit(tier)
    t0, c0 = time.monotonic(), time.process_time()
    assert f("sleep", 200_000_000) is True
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    assert wall >= 0.2
    assert cpu < wall / 2 + 0.05                # slept in select(), not a busy loop
    assert f("poll2", 0, 10**10) == [0]         # the zero timer alone, at once
    t0 = time.monotonic()
    assert f("poll2", 50_000_000, 10**10) == [0]
    assert 0.05 <= time.monotonic() - t0 < 5
    assert f("poll2", 0, 0) == [0, 1]
    with pytest.raises(Trap, match="empty"):
        f("poll0")


@pytest.mark.parametrize("tier", tier_params())
def test_a_timer_on_a_fixed_virtual_clock_still_elapses(tier):
    f = kit(tier, lambda w: setattr(w, "monotonic_clock", lambda: 5))
    assert f("sleep", 10_000_000) is True


@pytest.mark.parametrize("tier", tier_params())
def test_randomness_seeded_is_deterministic(tier):
    f = kit(tier, lambda w: setattr(w, "random_seed", 7))
    g = kit(tier, lambda w: setattr(w, "random_seed", 7))
    assert f("rand") == g("rand")
    assert f("rand-bytes", 16) == g("rand-bytes", 16)
    assert f("seed") == g("seed") == f("seed")      # the insecure seed is fixed per context
    h = kit(tier)
    assert len(h("rand-bytes", 33)) == 33 and h("rand-bytes", 0) == b""
    assert h("rand") != h("rand")
    with pytest.raises(Trap, match="limit"):
        h("rand-bytes", 1 << 40)


@pytest.mark.parametrize("tier", tier_params())
def test_one_implementation_answers_every_0_2_x_version(tier):
    # The kit imports 0.2.0, 0.2.1, 0.2.3 and 0.2.9; later 0.2 releases are answered too.
    f = kit(tier, captured([]), KIT.replace("wasi:cli/stdout@0.2.3", "wasi:cli/stdout@0.2.42"))
    assert f("hello") == 0
    for name in ("wasi:cli/stdout@0.3.0", "wasi:cli/stdout@0.2.3-rc1", "wasi:cli/stdout@1.2.3"):
        with pytest.raises(LinkError, match="not found"):
            kit(tier, None, KIT.replace("wasi:cli/stdout@0.2.3", name))


def test_without_add_wasip2_the_imports_are_missing():
    engine = wasmforge.Engine()
    store = wasmforge.Store(engine)
    with pytest.raises(LinkError, match="wasi:io/error@0.2.0"):
        C.Linker(engine).instantiate(store, C.Component(engine, KIT))


def test_an_import_of_the_wrong_type_is_a_link_error():
    # the host's types come from the WIT: list<s8> is not the list<u8> it returns
    wrong = KIT.replace('(param "len" u64) (result (list u8))', '(param "len" u64) (result (list s8))')
    assert wrong != KIT
    with pytest.raises(LinkError, match="get-random-bytes"):
        kit("interp", None, wrong)


@pytest.mark.parametrize("tier", tier_params())
def test_a_failed_write_is_last_operation_failed_then_closed(tier):
    # /dev/full refuses every write (ENOSPC): the guest gets last-operation-failed with an
    # error resource (which it drops), and the stream is closed afterwards.
    f = kit(tier, lambda w: setattr(w, "stdout_file", "/dev/full"))
    assert f("hello") == 2
    stream = io.FdOutput(os.open("/dev/full", os.O_WRONLY))
    try:
        with pytest.raises(io.StreamError) as failed:
            stream.write(b"x")
        assert failed.value.error is not None and "space" in failed.value.error.to_debug_string()
        with pytest.raises(io.StreamError) as closed:
            stream.check_write()
        assert closed.value.error is None
    finally:
        os.close(stream.fd)


def host_functions(configure=None):
    """The host's functions, by ``iface.name``, for a store given ``configure``'s WasiConfig."""
    store = wasmforge.Store(wasmforge.Engine())
    wasi = wasmforge.WasiConfig()
    if configure:
        configure(wasi)
    store.set_wasi(wasi)
    ctx = p2_ctx(store)
    return ctx, lambda iface, name: instance_of(ctx, iface).exports[name].fn


def test_terminals_are_none_unless_inherited_from_a_terminal():
    _, fn = host_functions()
    for which in ("stdin", "stdout", "stderr"):
        assert fn(f"wasi:cli/terminal-{which}", f"get-terminal-{which}")() is None


def test_exit_with_code_and_error_debug_strings():
    ctx, fn = host_functions()
    with pytest.raises(ExitTrap) as e:
        fn("wasi:cli/exit", "exit-with-code")(42)
    assert e.value.code == 42
    handle = ctx.push(ctx.types.resource(interface("wasi:io/error").types["error"]), io.IoError("boom"))
    assert fn("wasi:io/error", "[method]error.to-debug-string")(handle) == "boom"


def test_a_function_not_implemented_yet_traps_naming_itself(monkeypatch):
    # every WIT function of wasi:sockets is implemented now: take tcp's implementations away
    monkeypatch.setitem(IMPLEMENTATIONS, "wasi:sockets/tcp", lambda ctx: {})
    _, fn = host_functions()
    with pytest.raises(Trap, match=r"wasi:sockets/tcp\.\[method\]tcp-socket\.accept is not implemented"):
        fn("wasi:sockets/tcp", "[method]tcp-socket.accept")(None)


@pytest.mark.parametrize("iface", ["wasi:io/error", "wasi:io/poll", "wasi:io/streams", "wasi:cli/environment",
                                   "wasi:cli/exit", "wasi:cli/stdin", "wasi:cli/stdout", "wasi:cli/stderr",
                                   "wasi:cli/terminal-stdin", "wasi:cli/terminal-stdout", "wasi:cli/terminal-stderr",
                                   "wasi:clocks/monotonic-clock", "wasi:clocks/wall-clock", "wasi:random/random",
                                   "wasi:random/insecure", "wasi:random/insecure-seed", "wasi:filesystem/preopens",
                                   "wasi:filesystem/types"])
def test_every_function_of_the_wit_is_implemented(iface):
    ctx, _ = host_functions()
    assert set(IMPLEMENTATIONS[iface](ctx)) == set(interface(iface).functions)


def test_preopened_directories_are_the_configs(tmp_path):
    ctx, fn = host_functions(lambda w: (w.preopen_dir(str(tmp_path), "/data"),
                                        w.preopen_dir(str(tmp_path), "ro", read_only=True)))
    dirs = fn("wasi:filesystem/preopens", "get-directories")()
    assert [name for _, name in dirs] == ["/data", "ro"]
    # result<descriptor-type, error-code>: both cases are strings, so the result is tagged
    assert fn("wasi:filesystem/types", "[method]descriptor.get-type")(dirs[0][0]) == Variant("ok", "directory")
