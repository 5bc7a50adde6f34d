"""The body of ``wasmforge run`` for a core module or a component (cli/run.py describes the
command and its options), and its fast start: ``wasmforge run [OPTIONS] FILE [ARGS...]`` with
the common options (:data:`FAST_OPTIONS`) is parsed here and run without importing click,
whose import (with ``uuid``, ``platform``, ``datetime``, ``gettext``, ``inspect``) was
the largest part of a warm run's start after wasmforge itself (docs/performance.md,
"Start-up, sixth pass").  Anything else (another subcommand, ``--help``, another option, a
value that does not parse) goes to click, which parses it again and reports what is wrong
as it always did: :func:`parse_fast` only accepts what click would accept, with the same
meaning, and nothing runs before it has accepted the whole command line.
"""

from __future__ import annotations

import errno
import gc
import os
import sys
from typing import NoReturn, Optional

from ..errors import ExitTrap, Trap, WasmError
from ..runtime.store import MAX_FUEL
from . import _load
from ._commands import names_a_module
from ._load import (InputError, describe, die, echo, guest_exit_status, is_component, load, make_engine,
                    make_store, read_file, start_timer)

#: the ``-S`` (WASI) options ``wasmforge run`` knows: wasmtime's switches, and wasmforge's
#: allow-list entries (``allow-tcp=NET[:PORTS]``); they grant WASI 0.2 sockets their network
S_SWITCHES = ("inherit-network", "allow-ip-name-lookup", "tcp", "udp")
S_GRANTS = ("allow-tcp", "allow-udp")


def split_dir(spec: str) -> Optional[tuple]:
    """``HOST[::GUEST][:ro]`` -> (host, guest, read_only), the guest name defaulting to HOST;
    None when ``spec`` is not of that form."""
    read_only = spec.endswith(":ro")
    if read_only:
        spec = spec[:-3]
    host, sep, guest = spec.partition("::")
    if not host or (sep and not guest):
        return None
    return host, guest or host, read_only


def split_env(spec: str) -> Optional[tuple]:
    """``KEY=VALUE`` -> (key, value); a bare ``KEY`` -> (key, None); None without a KEY."""
    key, sep, value = spec.partition("=")
    if not key:
        return None
    return key, (value if sep else None)


def apply_s_options(wasi, options) -> None:
    """Grant ``wasi`` (a WasiConfig) the network the parsed ``-S`` options say."""
    switches = {name: value for name, value in options if name in S_SWITCHES}
    tcp, udp = switches.get("tcp", True), switches.get("udp", True)
    if switches.get("inherit-network"):
        wasi.inherit_network(tcp=tcp, udp=udp)
    wasi.allow_ip_name_lookup = switches.get("allow-ip-name-lookup", False)
    for name, value in options:
        if name not in S_GRANTS:
            continue
        if not (tcp if name == "allow-tcp" else udp):
            raise WasmError(f"-S {name} contradicts -S {name[6:]}=n")
        (wasi.allow_tcp if name == "allow-tcp" else wasi.allow_udp)(*value)



def _parse_value(text: str, valtype: str):
    """A command-line argument as an API value of ``valtype``."""
    try:
        if valtype in ("i32", "i64"):
            value = int(text, 0)
            bits = 32 if valtype == "i32" else 64
            if not -(1 << (bits - 1)) <= value < (1 << bits):
                raise ValueError
            return value - (1 << bits) if value >= 1 << (bits - 1) else value
        if valtype in ("f32", "f64"):
            return float(text)
    except ValueError:
        raise WasmError(f"invalid {valtype} argument {text!r}") from None
    raise WasmError(f"cannot pass a {valtype} argument from the command line")


def _warn_if_cache_inside(host: str) -> None:
    """One line on stderr when the granted directory ``host`` contains wasmforge's cache
    (say ``--dir ~``): the guest is refused the cache, but the user should know."""
    from .. import _cache  # start-up speed: only with --dir
    try:
        granted = os.stat(host)
    except OSError:
        return                  # preopen_dir reports it
    ident = (granted.st_dev, granted.st_ino)
    for root in dict.fromkeys((_cache.root_path(), _cache.default_root())):
        here = os.path.realpath(root)
        while True:
            try:
                st = os.stat(here)
            except OSError:
                st = None
            if st is not None and (st.st_dev, st.st_ino) == ident:
                echo(f"wasmforge: warning: --dir {host} contains the wasmforge cache "
                     f"{root}; the guest is denied access to it", err=True)
                return
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent


def run(file: str, args: tuple, invoke: Optional[str], preopens: list, env: list, inherit_env: bool,
        tier: Optional[str], fuel: Optional[int], timeout: Optional[float], max_wasm_stack: Optional[int],
        allow_precompiled: bool, network: list, unknown_imports: set,
        profile_path: Optional[str]) -> NoReturn:
    """Run ``file`` as cli/run.py's ``command`` describes, its options parsed (``preopens``
    from :func:`split_dir`, ``env`` from :func:`split_env`, ``network`` the parsed ``-S``
    options, ``unknown_imports`` the ``-W`` options switched on); exits the process."""
    # No collection while the run's modules are imported and a module cache hit is loaded
    # and instantiated (frozen below): what they make lives until the exit, and yosys's
    # warm run spent 0.09 s of CPU collecting it (117 collections, a full one inside the
    # instance plan).  Only where the collector runs (a site hook may have turned it off:
    # it stays off).
    paused = _load.OWN_PROCESS and gc.isenabled()
    if paused:
        gc.disable()
    from ..api import Linker, Module  # start-up speed: loaded when the subcommand runs
    from ..wasi import WasiConfig, WasiCtx, define_wasi  # start-up speed: loaded when the subcommand runs
    from ..api.wasi_threads import imports_thread_spawn  # start-up speed: loaded when the subcommand runs

    try:
        data = read_file(file)
        # An ahead-of-time artifact (`wasmforge compile`) is loaded with Module.deserialize.
        # (A wasm binary, module or component, is none: the artifact format's module, with
        # json, pickle and the encoder, is not loaded to say so.)
        binary = data[:4] == b"\0asm"
        kind = None if binary else _artifact_kind(data)
        artifact = kind is not None
        # A component's artifact (`wasmforge compile` of a component) runs as the component.
        component = kind == "component" or (not artifact and is_component(data))
        if artifact and not allow_precompiled:
            # Its machine code would run unverified: only on the user's explicit word, as
            # with wasmtime, never because of what a file happens to contain.
            raise WasmError("is a precompiled artifact (native code, run unverified); "
                            "pass --allow-precompiled to run it if you trust it")
        # A binary is decoded by Module itself, which first looks for its machine code in
        # the module cache (a warm run then neither validates nor compiles).
        moddata = None if artifact or component or binary else load(file, data)
    except (WasmError, InputError) as exc:
        die(describe(file, exc))
    if binary and not component and tier != "interp":
        # The module cache's key is the module's hash: a big module's is computed on a
        # thread of its own while what the run needs is imported (the llvm tier, WASI).
        from .. import _cache  # start-up speed: (loaded already by the API's import)
        if _cache.enabled():
            _cache.prefetch_digest(data)
    for host, _, _ in preopens:
        _warn_if_cache_inside(host)

    wasi = WasiConfig()
    wasi.argv = [file, *args]
    if inherit_env:
        wasi.inherit_env()
    if env:
        inherited = [(k, os.environ.get(k) if v is None else v) for k, v in env]
        wasi.env = (wasi.env if inherit_env else []) + [(k, v) for k, v in inherited if v is not None]
    wasi.inherit_stdin()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    for host, guest, read_only in preopens:
        # The directory named, not the module, is what is wrong.
        try:
            wasi.preopen_dir(host, guest, read_only=read_only)
        except WasmError as exc:
            why = (str(exc) if os.path.isdir(host) else
                   "not a directory" if os.path.exists(host) else "no such directory")
            die(f"--dir {host}: error: {why}")
    try:
        apply_s_options(wasi, network)
    except WasmError as exc:
        die(describe(file, exc))
    if component:
        if "unknown-imports-default" in unknown_imports:
            # wasmtime refuses it for components too: a component's results have no zero value
            # in general (resources, variants), so it is not guessed.
            die(f"{file}: error: -W unknown-imports-default is not supported for components "
                "(-W unknown-imports-trap is)")
        if profile_path is not None:
            die(f"{file}: error: --profile is not supported for components yet (core modules only)")
        if paused:
            gc.enable()     # (a component's run: with the collector, as before)
        from ._run_component import run_component  # start-up speed: a core module needs none of it
        run_component(file, data, args, invoke, wasi, tier, fuel, timeout, max_wasm_stack,
                      trap_unknown_imports="unknown-imports-trap" in unknown_imports, precompiled=artifact)
    try:
        engine = make_engine(tier, fuel, timeout, max_wasm_stack)
        if artifact:
            module = Module.deserialize(engine, data)
        else:
            module = Module(engine, data) if moddata is None else Module._from_data(engine, moddata)
        if paused and getattr(module, "_code", None) is None:
            gc.enable()         # (compiled on first use: with the collector, as before)
        store = make_store(engine, fuel, timeout)
        ctx = WasiCtx(wasi)
    except WasmError as exc:
        die(describe(file, exc))

    if profile_path is not None:
        # Checked before the run: a long run's profile is not lost to a path that cannot be
        # written (append mode: an existing file is kept until the profile replaces it).
        try:
            open(profile_path, "a").close()
        except OSError as exc:
            die(f"{profile_path}: error: cannot write the profile: {exc.strerror or exc}")
    code = 0
    sys.stdout.flush()
    timer = start_timer(engine, timeout)
    threads = None
    profiler = None
    try:
        if profile_path is not None:
            from ..profile import Profiler  # start-up speed: only with --profile
            # Started before instantiation: the module's start function is profiled too.
            profiler = Profiler(store).start()
        linker = Linker(engine)
        define_wasi(linker, store, ctx)
        if imports_thread_spawn(module):
            threads = _link_wasi_threads(linker, store, module, file, fuel, timeout is not None)
        if "unknown-imports-trap" in unknown_imports:
            linker.define_unknown_imports_as_traps(module)
        if "unknown-imports-default" in unknown_imports:
            linker.define_unknown_imports_as_default_values(store, module)
        instance = linker.instantiate(store, module)
        exports = instance.exports(store)
        # What exists now (the modules imported, the compiled module, the instance) lives
        # until the process exits: frozen, the collector no longer walks it in each full
        # collection of the run and in the one at exit (about 50 ms of a first run's exit,
        # docs/performance.md), nor touches its pages shared with a recompiling child.
        # Only in the command line's own process: a host running the command in process
        # keeps its collector as it was.
        if _load.OWN_PROCESS:
            gc.freeze()
        if paused:
            gc.enable()
        # A reactor (it exports `_initialize`) is initialised first; one with no `_start`
        # and no --invoke has then done all it does, and exits 0, as with wasmtime.
        init = exports.get("_initialize")
        if init is not None and (invoke is not None or "_start" not in exports):
            init(store)
        if invoke is None:
            start = exports.get("_start")
            if start is not None:
                start(store)
            elif init is None:
                raise WasmError("the module exports no `_start` function; name one with --invoke")
        else:
            func = exports.get(invoke)
            if func is None or not hasattr(func, "type"):
                raise WasmError(f"the module exports no function named {invoke!r}")
            ftype = func.type(store)
            if len(args) < len(ftype.params):
                raise WasmError(f"not enough arguments for {invoke!r}: it takes "
                                f"{len(ftype.params)}, {len(args)} given")
            results = func(store, *[_parse_value(a, t) for a, t in zip(args, ftype.params)])
            if results is not None:
                for value in results if isinstance(results, (list, tuple)) else (results,):
                    echo(str(value))
    except (ExitTrap, Trap) as exc:
        code = guest_exit_status(file, exc)
    except WasmError as exc:
        die(describe(file, exc))
    finally:
        if timer is not None:
            timer.cancel()
        if profiler is not None:
            # Written however the run ended (a trap, proc_exit, an error): the profile of a
            # failing run is often the one wanted.
            profiler.stop()
            try:
                profiler.write(profile_path)
            except OSError as exc:
                echo(f"{profile_path}: error: cannot write the profile: {exc.strerror or exc}", err=True)
        if threads is None or not any(t.is_alive() for t in threads.threads):
            ctx.close()
    sys.stdout.flush()
    if threads is not None and any(t.is_alive() for t in threads.threads):
        # The program ends when `_start` does, as a process does: threads still running
        # are not waited for (nor left to run into the interpreter's shutdown).
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)



def _artifact_kind(data):
    from ..api.aot import artifact_kind  # start-up speed: only for a file that is no wasm binary
    return artifact_kind(data)


def _link_wasi_threads(linker, store, module, file, fuel, epoch):
    """wasi-threads for ``module`` (it imports ``wasi::thread-spawn``): its imported shared
    memory and ``thread-spawn`` defined in ``linker``; a trap or ``proc_exit`` in a spawned
    thread ends the process with the status the main thread would give it.  Each thread's
    store gets the limits of the main one: ``fuel`` units of its own, the same epoch deadline
    (one ``--timeout`` tick interrupts every thread)."""
    from ..api.wasi_threads import define_wasi_threads, shared_memory_for  # start-up speed: only for such modules
    for imp in module.imports:
        if getattr(imp.type, "is_shared", False):
            linker.define(store, imp.module, imp.name, shared_memory_for(module))
            break

    def on_exit(exc):
        sys.stdout.flush()
        if isinstance(exc, (ExitTrap, Trap)):
            code = guest_exit_status(file, exc)
        else:
            echo(describe(file, exc), err=True)
            code = 1
        sys.stderr.flush()
        os._exit(code)

    def setup_store(thread_store):
        if fuel is not None:
            thread_store.set_fuel(fuel)
        if epoch:
            thread_store.set_epoch_deadline(1)

    return define_wasi_threads(linker, module, on_exit, setup_store)


#: The options :func:`parse_fast` takes (all long, as ``--name VALUE`` or ``--name=VALUE``):
#: name -> (keyword of :func:`run`, takes a value, repeatable).  The rest go to click.
FAST_OPTIONS = {
    "--dir": ("dirs", True, True),
    "--env": ("envs", True, True),
    "--inherit-env": ("inherit_env", False, False),
    "--tier": ("tier", True, False),
    "--fuel": ("fuel", True, False),
    "--invoke": ("invoke", True, False),
    "--allow-precompiled": ("allow_precompiled", False, False),
}
#: the values of ``--tier`` (cli/run.py's click option reads them here too)
TIERS = ("auto", "interp", "llvm")


def parse_fast(argv: list, subcommands) -> Optional[dict]:
    """The keyword arguments of :func:`run` for ``argv`` (the command line after the program
    name) when it is ``[run] [OPTIONS] FILE [ARGS...]`` with only :data:`FAST_OPTIONS`, each
    value one click would accept; None for anything else (click then handles it).  As with
    click (``allow_interspersed_args`` off), everything after FILE is ARGS."""
    if not argv:
        return None
    rest = list(argv)
    first = rest[0]
    if first == "run":
        rest.pop(0)
    elif first in subcommands:
        return None
    elif not first.startswith("-") and not names_a_module(first):
        return None                 # click says there is no such command
    opts: dict = {"dirs": [], "envs": [], "inherit_env": False, "tier": None, "fuel": None,
                  "invoke": None, "allow_precompiled": False}
    while rest and rest[0].startswith("-"):
        name, eq, value = rest.pop(0).partition("=")
        spec = FAST_OPTIONS.get(name)
        if spec is None:
            return None             # `--`, `-`, a short option, --help, another option
        key, takes_value, repeatable = spec
        if not takes_value:
            if eq:
                return None         # a flag given a value: click's usage error
            opts[key] = True
            continue
        if not eq:
            if not rest or rest[0].startswith("-"):
                return None
            value = rest.pop(0)
        if repeatable:
            opts[key].append(value)
        else:
            opts[key] = value
    if not rest:
        return None                 # no FILE: click's usage error
    if opts["tier"] is not None and opts["tier"] not in TIERS:
        return None
    if opts["fuel"] is not None:
        try:
            opts["fuel"] = int(opts["fuel"])
        except ValueError:
            return None
        if not 0 <= opts["fuel"] <= MAX_FUEL:
            return None
    preopens = [split_dir(d) for d in opts.pop("dirs")]
    env = [split_env(e) for e in opts.pop("envs")]
    if None in preopens or None in env:
        return None
    return dict(opts, file=rest[0], args=tuple(rest[1:]), preopens=preopens, env=env, timeout=None,
                max_wasm_stack=None, network=[], unknown_imports=set(), profile_path=None)


def run_fast(options: dict) -> NoReturn:
    """:func:`run` with ``options`` from :func:`parse_fast`, ending as click's ``main`` ends
    a command (standalone mode): a broken pipe exits 1 quietly, end of input says
    ``Aborted!``; Ctrl-C is left to the caller (cli.main)."""
    try:
        run(**options)
    except EOFError:
        echo("", err=True)
        echo("Aborted!", err=True)
        sys.exit(1)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # As click does: nothing more is written to the closed pipe, at exit either.
        sys.stdout = _Pacified(sys.stdout)
        sys.stderr = _Pacified(sys.stderr)
        sys.exit(1)


class _Pacified:
    """A stream whose ``flush`` ignores a broken pipe (click's ``_PacifyFlushWrapper``)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str):
        return getattr(self.wrapped, name)
