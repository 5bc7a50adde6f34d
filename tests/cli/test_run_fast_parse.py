"""The fast start of ``wasmforge run`` (cli/_run_module.py ``parse_fast``) parses a command line
without click: every line it takes must mean what click's parse of it means (the same call of
``run``), and every line it does not take goes to click (issue 10, docs/performance.md,
"Start-up, sixth pass").  In process: each line is parsed both ways, nothing runs."""

from __future__ import annotations

import importlib
import inspect

import click
import pytest

from wasmforge.cli import _run_module, cli
from wasmforge.cli._commands import SUBCOMMANDS
from wasmforge.cli._run_module import FAST_OPTIONS, TIERS, parse_fast

run_command = importlib.import_module("wasmforge.cli.run")

#: command lines the fast start takes (FILE needs not exist: its name says it is a module)
TAKEN = [
    ["run", "m.wasm"],
    ["m.wasm"],
    ["m.wat", "a", "b"],
    ["run", "m.cwasm"],
    ["run", "sub/m"],
    ["run", "m.wasm", "a", "--dir", ".", "--fuel", "-1"],     # after FILE: all ARGS
    ["run", "m.wasm", "--"],
    ["run", "m.wasm", "-h"],
    ["run", "m.wasm", "--help"],
    ["run", "parse"],                                       # FILE named like a subcommand
    ["run", "run", "x"],
    ["run", "--dir", ".", "m.wasm"],
    ["--dir", ".", "m.wasm", "x"],
    ["--dir=.", "m.wasm"],
    ["--dir", ".", "run", "m.wasm"],                        # FILE is `run`, as for click
    ["sub/m", "x"],
    ["--fuel=1000", "m.wasm"],
    ["--inherit-env", "m.wasm"],
    ["run", "--dir=.", "--dir", "/tmp::/t", "--dir", "a::b:ro", "--dir", "x:ro", "m.wasm"],
    ["run", "--dir", "a::b::c", "--dir", "a:b", "--dir=a=b", "m.wasm"],
    ["run", "--env", "A=1", "--env", "B", "--env=C=", "--env", "D=x=y", "--env", "E==", "m.wasm"],
    ["run", "--inherit-env", "--env", "A=1", "m.wasm"],
    ["run", "--inherit-env", "--inherit-env", "m.wasm"],
    ["run", "--tier", "interp", "m.wasm"],
    ["run", "--tier=llvm", "m.wasm"],
    ["run", "--tier", "auto", "--tier", "interp", "m.wasm"],             # the last one counts
    ["run", "--fuel", "0", "m.wasm"],
    ["run", "--fuel=1_000", "m.wasm"],
    ["run", "--fuel", " 7 ", "m.wasm"],
    ["run", "--fuel", "+5", "m.wasm"],
    ["run", "--fuel", "007", "m.wasm"],
    ["run", "--fuel", "5", "--fuel", "6", "m.wasm"],
    ["run", "--fuel", str(2**64 - 1), "m.wasm"],
    ["run", "--invoke", "f", "m.wasm", "1", "2"],
    ["run", "--invoke=", "m.wasm"],
    ["run", "--invoke", "a=b", "--invoke", "g", "m.wasm"],
    ["run", "--allow-precompiled", "m.cwasm"],
    ["run", "--allow-precompiled", "--tier", "llvm", "--fuel", "3", "--invoke", "f", "--dir", ".",
     "--env", "K=V", "--inherit-env", "m.wasm", "--invoke", "x"],
]

#: command lines the fast start leaves to click (a usage error there, or an option it does
#: not take, or something click reads differently)
LEFT = [
    [],
    ["run"],
    ["run", "--dir", "."],
    ["run", "--fuel"],
    ["--fuel"],
    ["--fuel", "1"],
    ["run", "--tier", "bogus", "m.wasm"],
    ["run", "--tier", "LLVM", "m.wasm"],
    ["run", "--tier=", "m.wasm"],
    ["run", "--fuel", "-1", "m.wasm"],
    ["run", "--fuel=-1", "m.wasm"],
    ["run", "--fuel", "1.5", "m.wasm"],
    ["run", "--fuel", "0x10", "m.wasm"],
    ["run", "--fuel=", "m.wasm"],
    ["run", "--fuel", str(2**64), "m.wasm"],               # more than a store holds
    ["run", "--dir", "::x", "m.wasm"],
    ["run", "--dir=", "m.wasm"],
    ["run", "--dir", ":ro", "m.wasm"],
    ["run", "--dir", "a::", "m.wasm"],
    ["run", "--dir", "", "m.wasm"],
    ["run", "--env", "=x", "m.wasm"],
    ["run", "--env=", "m.wasm"],
    ["run", "--inherit-env=1", "m.wasm"],
    ["run", "--allow-precompiled=", "m.wasm"],
    ["run", "--bogus", "m.wasm"],
    ["run", "--di", ".", "m.wasm"],                        # click takes no abbreviations
    ["run", "--timeout", "1", "m.wasm"],
    ["run", "--max-wasm-stack", "100", "m.wasm"],
    ["run", "-W", "unknown-imports-trap", "m.wasm"],
    ["run", "-S", "inherit-network", "m.wasm"],
    ["run", "--profile", "p.json", "m.wasm"],
    ["run", "--", "m.wasm"],
    ["run", "-", "x"],
    ["run", "--invoke", "--dir", "m.wasm"],                # click: --dir is the export's name
    ["run", "--dir", "-x", "m.wasm"],
    ["run", "--dir", "--", "m.wasm"],
    ["run", "--env", "-x=1", "m.wasm"],
    ["run", "-h", "m.wasm"],
    ["run", "--help"],
    ["--help"],
    ["-h"],
    ["--version"],
    ["parse", "m.wasm"],
    ["nosuchcommand"],
    ["--timeout", "1", "m.wasm"],
]


def _through_click(argv: list, monkeypatch) -> dict:
    """The keyword arguments click's ``wasmforge`` group calls ``run`` with for ``argv``."""
    names = list(inspect.signature(_run_module.run).parameters)
    seen: dict = {}
    monkeypatch.setattr(run_command, "run", lambda *args: seen.update(zip(names, args)))
    cli.main(args=list(argv), prog_name="wasmforge", standalone_mode=False)
    assert seen, f"click did not run {argv}"
    return seen


@pytest.mark.parametrize("argv", TAKEN, ids=" ".join)
def test_a_line_the_fast_start_takes_means_what_it_means_to_click(argv, monkeypatch):
    fast = parse_fast(argv, SUBCOMMANDS)
    assert fast is not None, argv
    assert fast == _through_click(argv, monkeypatch)


@pytest.mark.parametrize("argv", LEFT, ids=" ".join)
def test_a_line_the_fast_start_does_not_take_goes_to_click(argv):
    assert parse_fast(argv, SUBCOMMANDS) is None


def test_the_fast_options_are_clicks_options_of_run():
    # One name, one keyword, one arity, in both parsers: what FAST_OPTIONS says of an option
    # is what run's click command declares.
    params = {opt: p for p in run_command.command.params for opt in p.opts + p.secondary_opts}
    for name, (key, takes_value, repeatable) in FAST_OPTIONS.items():
        param = params[name]
        assert isinstance(param, click.Option), name
        assert param.name == key, name
        assert param.is_flag is not takes_value, name
        assert param.multiple is repeatable, name
    tier = params["--tier"]
    assert isinstance(tier.type, click.Choice) and tuple(tier.type.choices) == TIERS
