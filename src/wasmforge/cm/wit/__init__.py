"""The WIT language (the component model's ``WIT.md``): parse, resolve, print, and the JSON
form of ``wasm-tools component wit --json``.

- :func:`parse_source` parses the text of one file (which may hold nested packages);
- :func:`parse_file` a ``.wit`` file, :func:`parse_dir` a package directory, whose ``deps/``
  folder holds its dependencies (a folder or a single ``.wit`` file each);
- each returns a :class:`Resolve` whose ``main`` is the id of the package asked for;
- :func:`print_wit` prints a package back as WIT, :func:`to_json` gives the JSON form.

Errors are :class:`~wasmforge.errors.WitError` naming the file, line and column.
"""

from __future__ import annotations

import os
from typing import Iterable, List, Optional

from ...errors import WitError
from . import ast
from ..text import parse_component
from .component import component_wit, is_wit_package, world_from_component
from .decode import decode_package, package_from_component
from .jsonform import to_json
from .model import (Field, Function, Interface, Package, PackageName, Param, Resolve, Stability, TypeDef,
                    TypeRef, World, WorldItem, WorldKey)
from ..binary import decode_component
from .parser import parse
from .printer import print_wit
from .resolve import group_files, resolve_groups

__all__ = [
    "parse_source", "parse_file", "parse_dir", "parse_path", "decode_package", "component_wit", "print_wit", "to_json", "Resolve",
    "Package",
    "PackageName", "Interface", "World", "WorldItem", "WorldKey", "TypeDef", "TypeRef", "Function",
    "Param", "Field", "Stability", "WitError",
]


def _new(features: Iterable[str], all_features: bool) -> Resolve:
    return Resolve(features=frozenset(features), all_features=all_features)


def _push(resolve: Resolve, files: List[ast.File], where: str) -> int:
    groups = group_files(files, where)
    ids = resolve_groups(resolve, groups)
    # the package asked for: the files' own package, else the last nested one
    main = ids[-1]
    for gid in ids:
        if groups and str(resolve.packages[gid].name) == str(groups[0].name) and files[0].main.name is not None:
            main = gid
    resolve.main = main
    return main


def parse_source(text: str, name: str = "<source>", features: Iterable[str] = (),
                 resolve: Optional[Resolve] = None, all_features: bool = False) -> Resolve:
    """Parse and resolve the WIT text of one file."""
    r = resolve if resolve is not None else _new(features, all_features)
    _push(r, [parse(text, name)], name)
    return r


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise WitError(f"failed to read file: {exc.strerror or exc}", path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WitError(f"input is not valid utf-8 (at byte {exc.start})", path) from None


def parse_file(path: str, features: Iterable[str] = (), resolve: Optional[Resolve] = None,
               all_features: bool = False) -> Resolve:
    """Parse and resolve one ``.wit`` file; a ``.wasm`` or ``.wat`` file holds a WIT package
    in the component format (``wasm-tools component wit --wasm``), read by
    :func:`decode_package`, or a compiled component, whose world :func:`component_wit`
    derives."""
    r = resolve if resolve is not None else _new(features, all_features)
    if path.endswith((".wasm", ".wat")):
        _push_binary(r, path)
        return r
    _push(r, [parse(_read(path), path)], path)
    return r


def _push_binary(r: Resolve, path: str) -> int:
    """Read a WIT package in the component format (binary ``.wasm`` or text ``.wat``)."""
    if path.endswith(".wat"):
        comp = parse_component(_read(path), path)
    else:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise WitError(f"failed to read file: {exc.strerror or exc}", path) from None
        comp = decode_component(data)
    try:
        if is_wit_package(comp):
            package_from_component(comp, r)
        else:   # a compiled component: its world, as wasm-tools derives it
            world_from_component(comp, r)
    except WitError as exc:
        raise WitError(exc.reason, path) from None
    assert r.main is not None
    return r.main


def _wit_files(path: str) -> List[str]:
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise WitError(f"failed to read directory: {exc.strerror or exc}", path) from None
    return [os.path.join(path, n) for n in names
            if n.endswith(".wit") and os.path.isfile(os.path.join(path, n))]


def parse_dir(path: str, features: Iterable[str] = (), resolve: Optional[Resolve] = None,
              all_features: bool = False) -> Resolve:
    """Parse and resolve a package directory: its ``*.wit`` files form one package (nested
    ``package x:y { }`` blocks their own); ``deps/`` holds dependencies, each a directory
    of ``*.wit`` files or a single ``.wit`` file."""
    r = resolve if resolve is not None else _new(features, all_features)
    deps = os.path.join(path, "deps")
    dep_files: List[List[ast.File]] = []
    if os.path.isdir(deps):
        for name in sorted(os.listdir(deps)):
            p = os.path.join(deps, name)
            if os.path.isdir(p):
                dep_files.append([parse(_read(f), f) for f in _wit_files(p)])
            elif name.endswith(".wit"):
                dep_files.append([parse(_read(p), p)])
            elif name.endswith((".wasm", ".wat")):
                # a package in the component format: read now, before the text packages
                # that may use it
                _push_binary(r, p)
    main_files = [parse(_read(f), f) for f in _wit_files(path)]
    groups = []
    for files in dep_files:
        if files:
            groups.extend(group_files(files, os.path.dirname(files[0].main.file)))
    main_groups = group_files(main_files, path) if main_files else []
    if not main_groups:
        raise WitError("no `package` header was found in any WIT file for this package", path)
    ids = resolve_groups(r, groups + main_groups)
    main_name = str(main_groups[0].name)
    r.main = next(i for i in ids if str(r.packages[i].name) == main_name)
    return r


def parse_path(path: str, features: Iterable[str] = (), resolve: Optional[Resolve] = None,
               all_features: bool = False) -> Resolve:
    """:func:`parse_dir` for a directory, :func:`parse_file` otherwise."""
    if os.path.isdir(path):
        return parse_dir(path, features, resolve, all_features)
    return parse_file(path, features, resolve, all_features)
