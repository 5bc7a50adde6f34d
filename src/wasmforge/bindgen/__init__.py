"""Typed Python bindings generated from WIT: ``wasmforge bindgen``.

From a WIT world (a ``.wit`` file, a package directory, or a compiled component's ``.wasm``),
:func:`generate` writes a Python module: dataclasses for records, ``enum.Enum`` for enums,
``enum.Flag`` for flags, a dataclass per variant case with a ``Union`` of them, ``Ok``/``Err``
for results, classes for resources; a typed class over the component's exports (created by
``instantiate(store, component, imports)``) and, for its imports, a ``Protocol`` per imported
interface with ``add_to_linker(linker, impl)``.  :func:`load` gives the module without writing
a file.  docs/components.md, "Bindings", describes the mapping and its choices.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Iterable, Optional

from ..cm.wit import Resolve, parse_path
from ..errors import WitError
from ._generate import Generator, generate_source
from .runtime import Err, ExportedResource, HostResource, Ok, Result, ResultError, Some


def _resolve(source: "str | os.PathLike[str] | Resolve", features: Iterable[str]) -> Resolve:
    if isinstance(source, Resolve):
        return source
    path = os.fspath(source)
    if not os.path.exists(path):
        raise WitError("no such file or directory", path)
    return parse_path(path, features=features)


def generate(source: "str | os.PathLike[str] | Resolve", world: Optional[str] = None, *,
             features: Iterable[str] = ()) -> str:
    """The Python source of the bindings of ``world`` (a name, ``ns:pkg/world``, or None for
    the package's only world) of a WIT file, package directory, component, or resolution.
    A WIT mistake raises :class:`~wasmforge.errors.WitError` (``file:line:column: ...``); a
    construct bindings do not cover yet (async functions, streams, maps) NotSupportedError."""
    resolve = _resolve(source, features)
    return generate_source(resolve, resolve.select_world(world))


def load(source: "str | os.PathLike[str] | Resolve", world: Optional[str] = None, *,
         module_name: Optional[str] = None, features: Iterable[str] = ()) -> types.ModuleType:
    """The bindings as a module, generated and executed in memory (registered in
    ``sys.modules`` under ``module_name``, by default ``<world>_bindings``)."""
    resolve = _resolve(source, features)
    wid = resolve.select_world(world)
    text = generate_source(resolve, wid)
    name = module_name or resolve.worlds[wid].name.replace("-", "_") + "_bindings"
    module = types.ModuleType(name)
    module.__file__ = f"<wasmforge bindgen {name}>"
    sys.modules[name] = module
    try:
        exec(compile(text, module.__file__, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def write(source: "str | os.PathLike[str] | Resolve", output: "str | os.PathLike[str]",
          world: Optional[str] = None, *, features: Iterable[str] = ()) -> str:
    """Write the bindings to ``output`` (a ``.py`` file, or a directory, which becomes a
    package with the bindings in its ``__init__.py``); returns the path written."""
    text = generate(source, world, features=features)
    out = os.fspath(output)
    if not out.endswith(".py"):
        os.makedirs(out, exist_ok=True)
        out = os.path.join(out, "__init__.py")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    return out


__all__ = ["generate", "load", "write", "generate_source", "Generator", "Ok", "Err", "Result", "ResultError",
           "Some", "ExportedResource", "HostResource"]
