"""The manifest of ``wasmforge serve --config`` (``wasmforge.serve.load_manifest``): apps with
their routes and limits, the server's settings, and one-line errors naming the file, the line
and the key for anything it cannot use (unknown keys included: a typo must not drop a limit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmforge.errors import ConfigError
from wasmforge.serve import Autoscaling, ManifestError, ServerSpec, load_manifest, read_manifest

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "serve"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "apps.toml"
    path.write_text(text)
    return path


def test_the_example_manifest_reads():
    m = read_manifest(EXAMPLES / "apps.toml")
    assert m.server == ServerSpec(addr="127.0.0.1:8080", workers=4, queue=16, drain_timeout=10.0, reload=True,
                                  access_log="-", metrics="/metrics")
    hello, default = m.apps
    assert (hello.name, hello.route, hello.tier, hello.timeout, hello.max_memory) == (
        "hello", "/hello", "interp", 2.0, 16 << 20)
    assert hello.source == EXAMPLES / "tiny.wasm" and hello.source.is_file()
    assert (default.name, default.route, default.tier, default.fuel, default.max_request_body) == (
        "default", "/", None, 100_000_000, 1 << 20)
    assert (default.replicas, default.num_cpus, default.autoscaling) == (2, 0.5, None)
    assert load_manifest(EXAMPLES / "apps.toml") == list(m.apps)


def test_defaults_sources_relative_to_the_manifest_and_routes_without_trailing_slash(tmp_path):
    path = write(tmp_path, '[apps."a b"]\nsource = "sub/a.wasm"\nroute = "/api/"\n'
                           '[apps.b]\nsource = "/abs/b.wasm"\nroute = "/"\nallow_http = ["example.com:443"]\n'
                           '[apps.b.autoscaling]\nmin_replicas = 0\nmax_replicas = 3\n')
    m = read_manifest(path)
    assert m.server == ServerSpec()
    a, b = m.apps
    assert (a.name, a.source, a.route, a.timeout, a.fuel, a.replicas) == (
        "a b", tmp_path.resolve() / "sub" / "a.wasm", "/api", None, None, 1)
    assert (b.source, b.route, b.allow_http, b.autoscaling) == (
        Path("/abs/b.wasm"), "/", ("example.com:443",), Autoscaling(0, 3))


def test_metrics_can_be_turned_off(tmp_path):
    path = write(tmp_path, '[server]\nmetrics = false\n[apps.a]\nsource = "a.wasm"\nroute = "/"\n')
    assert read_manifest(path).server.metrics is None


@pytest.mark.parametrize("text, line, message", [
    # a typo is an error, with the line of the key
    ('[apps.a]\nsource = "a.wasm"\nroute = "/"\ntimout = 3\n', 4,
     "[apps.a] key 'timout': unknown key (expected one of: source, route, tier,"),
    ('[server]\nworkers = 2\nadress = "x"\n[apps.a]\nsource = "a.wasm"\nroute = "/"\n', 3,
     "[server] key 'adress': unknown key"),
    ('[apps.a]\nsource = "a.wasm"\nroute = "/"\n[apps.a.autoscaling]\nmin_replicas = 1\nmax = 2\n', 6,
     "[apps.a.autoscaling] key 'max': unknown key"),
    ('[app.a]\nsource = "a.wasm"\n', 1, "key 'app': unknown key"),
    # values of the wrong type or range
    ('[apps.a]\nsource = "a.wasm"\nroute = "/"\nfuel = "lots"\n', 4, "[apps.a] key 'fuel': must be an integer"),
    ('[apps.a]\nsource = "a.wasm"\nroute = "/"\nfuel = 18446744073709551616\n', 4,
     "[apps.a] key 'fuel': must be at most 18446744073709551615"),
    ('[apps.a]\nsource = "a.wasm"\nroute = "/"\ntimeout = 0\n', 4, "[apps.a] key 'timeout': must be positive"),
    ('[apps.a]\nsource = "a.wasm"\nroute = "/"\ntier = "jit"\n', 4, "must be one of auto, interp, llvm"),
    ('[apps.a]\nsource = "a.wasm"\nroute = "api"\n', 3, "[apps.a] key 'route': must be a path starting with '/'"),
    ('[apps.a]\nsource = "a.wasm"\nroute = "/"\nallow_http = ["host:port"]\n', 4, "not a HOST[:PORT]"),
    ('[server]\naddr = "nowhere"\n[apps.a]\nsource = "a.wasm"\nroute = "/"\n', 2, "expected \"HOST:PORT\""),
    ('[server]\nworkers = 0\n[apps.a]\nsource = "a.wasm"\nroute = "/"\n', 2, "must be at least 1"),
    ('[server]\nreload = "yes"\n[apps.a]\nsource = "a.wasm"\nroute = "/"\n', 2, "must be true or false"),
    # what is missing or contradictory
    ('[apps.a]\nsource = "a.wasm"\n', 1, "[apps.a]: missing key 'route'"),
    ('[server]\nworkers = 2\n', None, "no apps"),
    ('[apps.a]\nsource = "a.wasm"\nroute = "/x"\n[apps.b]\nsource = "b.wasm"\nroute = "/x/"\n', 6,
     "'/x' is already the route of app 'a'"),
    ('[apps.a]\nsource = "a.wasm"\nroute = "/metrics"\n', 3, "the metrics endpoint's path"),
    ('[apps.a]\nsource = "a.wasm"\nroute = "/"\nreplicas = 2\n[apps.a.autoscaling]\nmin_replicas = 1\n'
     'max_replicas = 2\n', 5, "replicas and autoscaling exclude each other"),
    ('[apps.a]\nsource = "a.wasm"\nroute = "/"\n[apps.a.autoscaling]\nmin_replicas = 3\nmax_replicas = 2\n', 5,
     "3 is above max_replicas (2)"),
    # not TOML at all
    ('[apps.a]\nsource = "a.wasm\n', 2, "invalid TOML"),
])
def test_a_bad_manifest_is_one_line_naming_file_line_and_key(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    error = info.value
    assert isinstance(error, ConfigError)
    assert error.line == line
    where = f"{path}:{line}" if line is not None else str(path)
    assert str(error).startswith(f"{where}: error: "), str(error)
    assert message in str(error)
    assert "\n" not in str(error)


def test_a_missing_manifest_is_a_manifest_error(tmp_path):
    with pytest.raises(ManifestError, match="apps.toml: error: No such file or directory"):
        load_manifest(tmp_path / "apps.toml")


def test_the_server_table_sets_the_processes(tmp_path):
    apps = '[apps.a]\nsource = "a.wasm"\nroute = "/"\n'
    assert read_manifest(write(tmp_path, "[server]\nprocesses = 3\n" + apps)).server.processes == 3
    assert read_manifest(write(tmp_path, apps)).server.processes is None       # the command's default
    for value, message in (("0", "must be at least 1"), ("1000", "must be at most 256"), ('"2"', "must be an integer")):
        with pytest.raises(ManifestError, match=message):
            read_manifest(write(tmp_path, f"[server]\nprocesses = {value}\n" + apps))

