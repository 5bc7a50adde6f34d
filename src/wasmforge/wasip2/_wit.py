"""The WIT of WASI 0.2 (vendored from WebAssembly/WASI, tag v0.2.9, in ``wit/``), read once
with wasmforge's WIT parser: which interfaces exist, their resources and functions, and the
component types of those functions (:class:`~wasmforge.cm.wit.ctypes.TypeMap`)."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Dict, Optional

from ..cm.wit import Interface, Resolve, parse_dir

WIT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wit")
#: the packages, each after the ones it uses
_ORDER = ("io", "clocks", "random", "filesystem", "sockets", "cli", "http")
#: the version of the vendored WIT
WIT_VERSION = "0.2.9"
#: an import name this host answers: any 0.2.x release (not a pre-release), as wasmtime does
_NAME = re.compile(r"^(wasi:[a-z][a-z0-9-]*/[a-z][a-z0-9-]*)@0\.2\.(0|[1-9][0-9]*)$")


@lru_cache(maxsize=1)
def wasi_resolve() -> Resolve:
    """Every vendored WASI 0.2 package, resolved (``@unstable`` items included, as wasmtime
    links them)."""
    r: Optional[Resolve] = None
    for pkg in _ORDER:
        r = parse_dir(os.path.join(WIT_DIR, pkg), resolve=r, all_features=True)
    assert r is not None
    return r


@lru_cache(maxsize=1)
def interfaces() -> Dict[str, int]:
    """``wasi:pkg/iface`` (unversioned) -> its interface id in :func:`wasi_resolve`."""
    r = wasi_resolve()
    out: Dict[str, int] = {}
    for iid, iface in enumerate(r.interfaces):
        if iface.name is None or iface.package is None:
            continue
        name = r.packages[iface.package].name
        out[f"{name.namespace}:{name.name}/{iface.name}"] = iid
    return out


def unversioned(import_name: str) -> Optional[str]:
    """``wasi:io/streams`` for ``wasi:io/streams@0.2.3``; None for a name this host does not
    answer (another namespace, another major/minor version, a pre-release, an unknown
    interface)."""
    m = _NAME.match(import_name)
    if m is None or m.group(1) not in interfaces():
        return None
    return m.group(1)


def interface(name: str) -> Interface:
    """The WIT interface ``wasi:pkg/iface`` (unversioned)."""
    return wasi_resolve().interfaces[interfaces()[name]]
