"""The resolved form of WIT: a :class:`Resolve` holding packages, interfaces, worlds and type
definitions in arenas, referring to each other by index (the shape of wasm-tools' ``Resolve``,
so its JSON form can be compared with ``wasm-tools component wit --json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple, Union

from ...errors import WitError

#: A type reference: a primitive's name (``"u32"``, ``"string"`` ...) or a type id.
TypeRef = Union[str, int]


@dataclass(frozen=True)
class Stability:
    """``@since``/``@unstable``/``@deprecated`` of an item (all ``None``: unknown)."""

    since: Optional[str] = None
    unstable: Optional[str] = None
    deprecated: Optional[str] = None

    def known(self) -> bool:
        return self.since is not None or self.unstable is not None


UNKNOWN = Stability()


@dataclass(frozen=True)
class PackageName:
    namespace: str
    name: str
    version: Optional[str] = None

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}" + (f"@{self.version}" if self.version else "")


@dataclass
class Field:
    """A record field, variant case (``type`` optional), enum case or flag."""

    name: str
    type: Optional[TypeRef] = None
    docs: Optional[str] = None


@dataclass
class TypeDef:
    """A type definition.  ``kind`` is ``type`` (an alias: ``args[0]``), ``record``,
    ``variant``, ``enum``, ``flags`` (``fields``), ``resource``, ``own``/``borrow``
    (``args[0]`` the resource), ``list``, ``fixed-length-list`` (``length``), ``option``,
    ``result`` (``args`` ok, err), ``tuple``, ``map``, ``future``, ``stream``."""

    name: Optional[str]
    kind: str
    owner: Optional[Tuple[str, int]] = None
    args: List[Optional[TypeRef]] = field(default_factory=list)
    fields: List[Field] = field(default_factory=list)
    length: Optional[int] = None
    docs: Optional[str] = None
    stability: Stability = UNKNOWN
    external_id: Optional[str] = None


@dataclass
class Param:
    name: str
    type: TypeRef


@dataclass
class Function:
    """A function: ``kind`` ``freestanding``, ``method``, ``static`` or ``constructor``
    (``resource`` its type id), ``is_async`` for the async forms."""

    name: str
    kind: str
    params: List[Param]
    result: Optional[TypeRef]
    resource: Optional[int] = None
    is_async: bool = False
    docs: Optional[str] = None
    stability: Stability = UNKNOWN
    external_id: Optional[str] = None

    @property
    def item_name(self) -> str:
        """The name without the ``[method]r.`` style prefix."""
        if self.kind == "constructor":
            return "constructor"
        if self.kind in ("method", "static"):
            return self.name.split(".", 1)[1]
        return self.name


@dataclass
class Interface:
    name: Optional[str]
    package: Optional[int]
    types: Dict[str, int] = field(default_factory=dict)
    functions: Dict[str, Function] = field(default_factory=dict)
    docs: Optional[str] = None
    stability: Stability = UNKNOWN


#: A world's import/export key: a plain name, or an interface id (``import pkg:x/y;``).
WorldKey = Union[str, int]


@dataclass
class WorldItem:
    """What a world imports or exports: an ``interface`` (id), a ``function`` or a ``type``."""

    kind: str
    interface: Optional[int] = None
    function: Optional[Function] = None
    type: Optional[int] = None
    stability: Stability = UNKNOWN
    docs: Optional[str] = None
    external_id: Optional[str] = None


@dataclass
class World:
    name: str
    package: Optional[int]
    imports: Dict[WorldKey, WorldItem] = field(default_factory=dict)
    exports: Dict[WorldKey, WorldItem] = field(default_factory=dict)
    docs: Optional[str] = None
    stability: Stability = UNKNOWN


@dataclass
class Package:
    name: PackageName
    docs: Optional[str] = None
    interfaces: Dict[str, int] = field(default_factory=dict)
    worlds: Dict[str, int] = field(default_factory=dict)


@dataclass
class Resolve:
    """Every package resolved so far, with the arenas their items live in."""

    packages: List[Package] = field(default_factory=list)
    interfaces: List[Interface] = field(default_factory=list)
    worlds: List[World] = field(default_factory=list)
    types: List[TypeDef] = field(default_factory=list)
    #: the package the user asked for (the last one pushed from the given path)
    main: Optional[int] = None
    #: the ``@unstable`` features treated as enabled
    features: frozenset[str] = frozenset()
    #: treat every ``@unstable`` feature as enabled
    all_features: bool = False
    #: interface id -> the interfaces whose types it ``use``s (for world elaboration)
    interface_uses: Dict[int, Set[int]] = field(default_factory=dict, repr=False, compare=False)
    #: interface id -> names of its types left out by a feature gate
    excluded_types: Dict[int, Set[str]] = field(default_factory=dict, repr=False, compare=False)

    def select_world(self, name: Optional[str] = None) -> int:
        """The id of a world: ``name`` is ``world`` (in the main package) or
        ``ns:pkg/world`` (optionally ``@version``); without a name, the main package's only
        world.  A ``WitError`` says what is missing or ambiguous."""
        main = self.main if self.main is not None else len(self.packages) - 1
        if name is None:
            if main < 0:
                raise WitError("no package to select a world from")
            worlds = self.packages[main].worlds
            if len(worlds) != 1:
                listing = ", ".join(worlds) or "none"
                raise WitError(f"package `{self.packages[main].name}` has {len(worlds)} worlds ({listing}); "
                               f"name the one to use")
            return next(iter(worlds.values()))
        if "/" not in name:
            if main >= 0 and name in self.packages[main].worlds:
                return self.packages[main].worlds[name]
            raise WitError(f"world `{name}` not found in package "
                           f"`{self.packages[main].name if main >= 0 else '?'}`")
        pkg, _, rest = name.partition("/")
        world, _, version = rest.partition("@")
        full = pkg + (f"@{version}" if version else "")
        for p in self.packages:
            if str(p.name) == full or (not version and f"{p.name.namespace}:{p.name.name}" == pkg):
                if world in p.worlds:
                    return p.worlds[world]
        raise WitError(f"world `{name}` not found")

    def package_by_name(self, name: str) -> Optional[int]:
        for i, p in enumerate(self.packages):
            if str(p.name) == name:
                return i
        return None

    def interface_path(self, iid: int) -> str:
        """``ns:pkg/name@version`` of a named interface."""
        iface = self.interfaces[iid]
        assert iface.package is not None and iface.name is not None
        p = self.packages[iface.package].name
        return f"{p.namespace}:{p.name}/{iface.name}" + (f"@{p.version}" if p.version else "")

    def key_name(self, key: WorldKey) -> str:
        """A world key as the component model names the import or export."""
        return key if isinstance(key, str) else self.interface_path(key)
