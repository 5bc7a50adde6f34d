"""``wasmforge run -S ...``: the network a component's wasi:sockets gets from the command line
(nothing by default; loopback only here)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import wasmforge
from wasmforge.cli import cli
from wasmforge.cli.run import apply_s_options, parse_s_option
from wasmforge.wasi import SocketAddrUse
from wasmforge.wasi.network import parse_network

KIT = Path(__file__).resolve().parent.parent / "component" / "wasip2_sockets_kit.wat"


@pytest.fixture
def echo_server():
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)

    def serve():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            conn.sendall(conn.recv(100).upper())
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    srv.close()
    t.join(10)


def run(*options, port):
    return CliRunner().invoke(cli, ["run", "--tier", "interp", *options, "--invoke", f"echo({port}, [104, 105])",
                                    str(KIT)])


def test_sockets_are_refused_without_s_options(echo_server):
    r = run(port=echo_server)
    assert (r.exit_code, r.output) == (0, "err(access-denied)\n")


@pytest.mark.parametrize("option", ["allow-tcp=127.0.0.1", "allow-tcp=127.0.0.0/8:1-65535", "inherit-network"])
def test_an_s_option_grants_the_connection(echo_server, option):
    r = run("-S", option, port=echo_server)
    assert (r.exit_code, r.output) == (0, "ok([72, 73])\n")


def test_a_grant_for_other_ports_or_protocols_is_not_enough(echo_server):
    other = echo_server + 1 if echo_server < 65535 else echo_server - 1
    for options in (["-S", f"allow-tcp=127.0.0.1:{other}"], ["-S", "allow-udp=127.0.0.1"],
                    ["-S", "inherit-network", "-S", "tcp=n"]):
        r = run(*options, port=echo_server)
        assert (r.exit_code, r.output) == (0, "err(access-denied)\n"), options


def test_s_options_parse_as_documented():
    assert parse_s_option("inherit-network") == ("inherit-network", True)
    assert parse_s_option("allow-ip-name-lookup=n") == ("allow-ip-name-lookup", False)
    assert parse_s_option("allow-tcp=127.0.0.1:80,8000-8009") == ("allow-tcp", ("127.0.0.1", [80, range(8000, 8010)]))
    assert parse_s_option("allow-udp=[::1]:53") == ("allow-udp", ("::1", [53]))
    assert parse_s_option("allow-udp=::1") == ("allow-udp", ("::1", None))
    assert parse_s_option("allow-tcp=[fd00::/8]") == ("allow-tcp", ("fd00::/8", None))
    for bad in ("network", "tcp=maybe", "allow-tcp=", "allow-tcp=127.0.0.1:http", "allow-tcp=[::1"):
        with pytest.raises(click.BadParameter):
            parse_s_option(bad)
    wasi = wasmforge.WasiConfig()
    apply_s_options(wasi, [parse_s_option("allow-ip-name-lookup"), parse_s_option("allow-udp=[::1]:53")])
    assert wasi.allow_ip_name_lookup is True
    assert wasi.network.allows(parse_network("::1").network_address, 53, SocketAddrUse.UDP_BIND)
    assert not wasi.network.allows(parse_network("::1").network_address, 54, SocketAddrUse.UDP_BIND)
    with pytest.raises(wasmforge.WasmError, match="contradicts"):
        apply_s_options(wasmforge.WasiConfig(), [parse_s_option("udp=n"), parse_s_option("allow-udp=::1")])


def test_a_bad_network_is_a_one_line_error():
    r = CliRunner().invoke(cli, ["run", "-S", "allow-tcp=localhost:80", "--invoke", "echo(1, [])", str(KIT)])
    assert r.exit_code == 1
    assert "invalid network 'localhost'" in r.output and "Traceback" not in r.output
