"""args, environ, clocks, random, scheduling, process functions and WasiConfig."""

import time

import pytest

from support import descriptors_under

from wasmforge.errors import ExitTrap, WasmError
from wasmforge.wasi import Errno, WasiConfig, WasiCtx


def config(**kw):
    c = WasiConfig()
    for k, v in kw.items():
        setattr(c, k, v)
    return c


# -- args / environ -------------------------------------------------------------------------

def test_args_sizes_get_counts_nul_terminators(make_guest):
    g = make_guest(config(argv=["prog", "a b", "é"]))
    assert g.call("args_sizes_get", 0, 4) == 0
    assert (g.u32(0), g.u32(4)) == (3, 5 + 4 + 3)


def test_args_get_writes_pointers_and_strings(make_guest):
    g = make_guest(config(argv=["prog", "x"]))
    assert g.call("args_get", 100, 200) == 0
    assert (g.u32(100), g.u32(104)) == (200, 205)
    assert g.get(200, 7) == b"prog\0x\0"


def test_args_with_no_arguments(make_guest):
    g = make_guest()
    assert g.call("args_sizes_get", 0, 4) == 0 and (g.u32(0), g.u32(4)) == (0, 0)
    assert g.call("args_get", 100, 200) == 0


def test_args_get_buffer_out_of_bounds_is_efault(make_guest):
    g = make_guest(config(argv=["prog"]))
    assert g.call("args_get", 100, 65536 - 3) == Errno.FAULT
    assert g.call("args_get", 65534, 200) == Errno.FAULT


def test_args_sizes_get_out_of_bounds_is_efault(make_guest):
    g = make_guest(config(argv=["prog"]))
    assert g.call("args_sizes_get", 65533, 0) == Errno.FAULT
    assert g.call("args_sizes_get", 0, 0xFFFFFFFF) == Errno.FAULT


def test_environ_get_writes_key_value_strings(make_guest):
    g = make_guest(config(env=[("A", "1"), ("PATH", "/bin")]))
    assert g.call("environ_sizes_get", 0, 4) == 0
    assert (g.u32(0), g.u32(4)) == (2, 4 + 10)
    assert g.call("environ_get", 100, 200) == 0
    assert g.get(200, 14) == b"A=1\0PATH=/bin\0"
    assert (g.u32(100), g.u32(104)) == (200, 204)


def test_environ_get_out_of_bounds_is_efault(make_guest):
    g = make_guest(config(env=[("A", "1")]))
    assert g.call("environ_get", 0xFFFFFFFF, 0) == Errno.FAULT


def test_inherit_argv_and_env(make_guest, monkeypatch):
    monkeypatch.setattr("sys.argv", ["host-prog", "arg"])
    monkeypatch.setenv("WASMFORGE_TEST_VAR", "42")
    c = WasiConfig()
    c.inherit_argv()
    c.inherit_env()
    g = make_guest(c)
    assert g.ctx.args == [b"host-prog", b"arg"]
    assert b"WASMFORGE_TEST_VAR=42" in g.ctx.environ


def test_env_rejects_name_with_equals_sign():
    with pytest.raises(WasmError):
        config(env=[("A=B", "1")])


def test_argv_rejects_nul_byte():
    with pytest.raises(WasmError):
        config(argv=["a\0b"])


def test_preopen_of_missing_directory_is_an_error(tmp_path):
    with pytest.raises(WasmError, match="failed to open directory"):
        WasiConfig().preopen_dir(tmp_path / "missing", "/x")


def test_stdin_file_must_exist(tmp_path):
    with pytest.raises(WasmError):
        config(stdin_file=tmp_path / "missing")


def test_ctx_close_releases_preopen_descriptors(sandbox):
    c = WasiConfig()
    c.preopen_dir(sandbox, "/s")
    before = descriptors_under(sandbox)
    ctx = WasiCtx(c)
    assert descriptors_under(sandbox) == before + 1
    ctx.close()
    assert descriptors_under(sandbox) == before


# -- clocks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("clock", [0, 1, 2, 3])
def test_clock_res_get_is_positive(make_guest, clock):
    g = make_guest()
    assert g.call("clock_res_get", clock, 8) == 0
    assert 0 < g.u64(8) <= 1_000_000_000


def test_clock_time_get_realtime_matches_host(make_guest):
    g = make_guest()
    assert g.call("clock_time_get", 0, 1, 8) == 0
    assert abs(g.u64(8) - time.time_ns()) < 5_000_000_000


def test_clock_time_get_monotonic_does_not_go_back(make_guest):
    g = make_guest()
    g.call("clock_time_get", 1, 1, 8)
    g.call("clock_time_get", 1, 1, 16)
    assert g.u64(16) >= g.u64(8)


@pytest.mark.parametrize("clock", [2, 3])
def test_clock_time_get_cputime_clocks(make_guest, clock):
    g = make_guest()
    assert g.call("clock_time_get", clock, 1, 8) == 0


def test_clock_unknown_id_is_einval(make_guest):
    g = make_guest()
    assert g.call("clock_time_get", 4, 1, 8) == Errno.INVAL
    assert g.call("clock_res_get", 4, 8) == Errno.INVAL


def test_clock_time_get_out_of_bounds_is_efault(make_guest):
    g = make_guest()
    assert g.call("clock_time_get", 0, 1, 65536 - 7) == Errno.FAULT
    assert g.call("clock_res_get", 0, 65536 - 7) == Errno.FAULT


# -- random, sched_yield, proc_exit, proc_raise ---------------------------------------------

def test_random_get_fills_buffer(make_guest):
    g = make_guest()
    assert g.call("random_get", 100, 64) == 0
    assert g.get(100, 64) != bytes(64)
    assert g.get(164, 16) == bytes(16)


def test_random_get_zero_length(make_guest):
    assert make_guest().call("random_get", 65536, 0) == 0


def test_random_get_out_of_bounds_is_efault(make_guest):
    g = make_guest()
    assert g.call("random_get", 65530, 7) == Errno.FAULT
    assert g.get(65530, 6) == bytes(6)


def test_sched_yield_succeeds(make_guest):
    assert make_guest().call("sched_yield") == 0


def test_proc_exit_raises_exit_trap_with_code(make_guest):
    with pytest.raises(ExitTrap) as info:
        make_guest().call("proc_exit", 3)
    assert info.value.code == 3


def test_proc_raise_is_not_supported(make_guest):
    assert make_guest().call("proc_raise", 15) == Errno.NOTSUP


def test_proc_raise_unknown_signal_is_einval(make_guest):
    assert make_guest().call("proc_raise", 31) == Errno.INVAL


# -- the function table ---------------------------------------------------------------------

def test_host_functions_cover_all_of_preview1(make_guest):
    names = set(make_guest().ctx.host_functions())
    assert len(names) == 46
    assert {"fd_write", "path_open", "poll_oneoff", "sock_accept", "proc_exit"} <= names


def test_host_function_types_follow_the_witx_lowering(make_guest):
    table = make_guest().ctx.host_functions()
    assert table["path_open"][0].params == ("i32", "i32", "i32", "i32", "i32", "i64", "i64", "i32", "i32")
    assert table["fd_seek"][0].params == ("i32", "i64", "i32", "i32")
    assert table["proc_exit"][0].results == ()
    assert all(ty.results == ("i32",) for name, (ty, _) in table.items() if name != "proc_exit")


def test_set_wasi_replacing_a_context_closes_the_old_one(sandbox):
    from wasmforge import Engine, Store
    from wasmforge.wasi import set_wasi, wasi_ctx
    store = Store(Engine())
    c = WasiConfig()
    c.preopen_dir(sandbox, "/s")
    first = set_wasi(store, c)
    second = set_wasi(store, WasiConfig())
    assert wasi_ctx(store) is second
    assert first.fds == {}


def test_env_accepts_a_mapping():
    assert config(env={"A": "1", "B": "2"}).env == [(b"A", b"1"), (b"B", b"2")]
