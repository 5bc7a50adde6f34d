"""The WIT syntax tree: what one file says, before names are resolved (WIT.md, "Top-level
items", "Item: world", "Item: interface", "Types").  Every name keeps its position so the
resolver's errors point at the source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union

from .lexer import Pos


@dataclass
class Name:
    """An identifier and where it was written."""

    text: str
    pos: Pos


@dataclass
class Gate:
    """The feature gates on an item: ``@since``, ``@unstable``, ``@deprecated``."""

    since: Optional[str] = None
    unstable: Optional[str] = None
    deprecated: Optional[str] = None
    pos: Optional[Pos] = None
    #: ``@external-id("...")``: the item's name for the world outside (not a gate, but
    #: written in the same place)
    external_id: Optional[str] = None

    def empty(self) -> bool:
        return self.since is None and self.unstable is None and self.deprecated is None


@dataclass
class PackageName:
    """``namespace:name@version`` (nested namespaces are joined by ``:`` in ``namespace``)."""

    namespace: str
    name: str
    version: Optional[str]
    pos: Pos

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}" + (f"@{self.version}" if self.version else "")

    @property
    def unversioned(self) -> str:
        return f"{self.namespace}:{self.name}"


@dataclass
class UsePath:
    """A reference to an interface or world: local (``name``) or in another package."""

    name: Name
    package: Optional[PackageName] = None


# -- types ---------------------------------------------------------------------------------

@dataclass
class Ty:
    """A type expression.  ``kind`` is a primitive's name, ``named``, ``list``, ``option``,
    ``result``, ``tuple``, ``map``, ``future``, ``stream``, ``own`` or ``borrow``."""

    kind: str
    pos: Pos
    args: List[Optional["Ty"]] = field(default_factory=list)
    name: Optional[Name] = None
    length: Optional[int] = None


@dataclass
class Param:
    name: Name
    ty: Ty


@dataclass
class FuncType:
    params: List[Param]
    result: Optional[Ty]
    is_async: bool
    pos: Pos


@dataclass
class Func:
    """A function item: freestanding, or in a resource a ``method``, ``static`` function or
    ``constructor``."""

    name: Name
    type: FuncType
    kind: str = "freestanding"
    docs: Optional[str] = None
    gate: Gate = field(default_factory=Gate)


@dataclass
class Case:
    """A record field, a variant case (``ty`` optional), an enum case or a flag."""

    name: Name
    ty: Optional[Ty]
    docs: Optional[str] = None


@dataclass
class TypeDef:
    """``type``, ``record``, ``variant``, ``enum``, ``flags`` or ``resource``."""

    kind: str
    name: Name
    docs: Optional[str]
    gate: Gate
    alias: Optional[Ty] = None
    cases: List[Case] = field(default_factory=list)
    funcs: List[Func] = field(default_factory=list)


@dataclass
class Use:
    """``use path.{a, b as c};``"""

    path: UsePath
    names: List[Tuple[Name, Optional[Name]]]
    gate: Gate
    docs: Optional[str]
    pos: Pos


@dataclass
class Interface:
    name: Optional[Name]
    items: List[Union[Use, TypeDef, Func]]
    docs: Optional[str]
    gate: Gate
    pos: Pos


@dataclass
class Extern:
    """A world ``import``/``export``: a function, an inline interface, or an interface path."""

    direction: str
    name: Optional[Name]
    func: Optional[FuncType] = None
    interface: Optional[Interface] = None
    path: Optional[UsePath] = None
    docs: Optional[str] = None
    gate: Gate = field(default_factory=Gate)
    pos: Optional[Pos] = None


@dataclass
class Include:
    """``include path with { a as b };``"""

    path: UsePath
    renames: List[Tuple[Name, Name]]
    gate: Gate
    docs: Optional[str]
    pos: Pos


@dataclass
class World:
    name: Name
    items: List[Union[Extern, Use, TypeDef, Include]]
    docs: Optional[str]
    gate: Gate
    pos: Pos


@dataclass
class TopUse:
    """A top-level ``use pkg:name/iface as alias;``"""

    path: UsePath
    alias: Optional[Name]
    pos: Pos


@dataclass
class PackageSource:
    """The items of one package written in one file (a file's own package, or a nested
    ``package a:b { ... }`` block)."""

    name: Optional[PackageName]
    docs: Optional[str]
    items: List[Union[Interface, World, TopUse]]
    file: str
    nested: bool = False


@dataclass
class File:
    """One parsed file: its main package part and its nested packages."""

    main: PackageSource
    nested: List[PackageSource]
