"""Running WAST scripts (the spec test suite) against an execution tier.

Counting: every assertion (``assert_return``, ``assert_trap``, ``assert_exhaustion``,
``assert_invalid``, ``assert_malformed``, ``assert_unlinkable``, ``assert_uninstantiable``)
passes, fails, or is *skipped* — skipped only when it depends on a module whose definition
failed earlier in the script (it is invoked, or its registered exports are imported).  That
first failure is counted once, as a failure of the ``module`` command; later commands that
depend on it are not charged again.  A ``module``, ``register`` or bare action counts only
when it fails.

A script that does not parse runs nothing; each of its top-level assertions counts as failed
(at least one), so totals over many scripts count assertions, not scripts.

Messages compare as in the reference interpreter's runner: the expected text must be a prefix
of the error's message.
"""

from __future__ import annotations

import copy
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, TextIO

from ..errors import (DecodeError, LinkError, NotSupportedError, ParseError, Trap, TrapCode, ValidationError,
                      WasmError, WasmException)
from ..features import ALL as ALL_FEATURES, FEATURES, INTERP_ONLY, feature_name
from ..numerics.bits import (MASK32, MASK64, f32_from_bits, f32_to_bits, f64_from_bits, f64_to_bits)
from ..api import Config, Engine, Module, Store
from ..cm.binary import decode_component
from ..cm.text import parse_component
from ..cm.instance import Component, ComponentInstance, instantiate_component
from ..cm.valid import COMPONENT_FEATURES, check_root_component
from ..runtime.func import FuncInstance
from ..runtime.gc import Array, HostAny, I31, Struct
from ..runtime.glob import GlobalInstance
from ..module import TABLE
from ..runtime.instance import ModuleInstance, instantiate
from ..text import script as S
from ..valid.validate import validate
from .cmhost import WASMTIME_MAX_STRING_BYTES, component_spectest
from .cvalues import ValueMismatch, matches as cv_matches, to_python as cv_to_python
from .spectest import spectest_instance


@dataclass(frozen=True)
class ExternRef:
    """The host reference ``(ref.extern N)`` of a script."""

    value: int

    def __repr__(self) -> str:
        return f"ref.extern {self.value}"


@dataclass
class Failure:
    """One failed command: where, which kind, and expected vs actual."""

    file: str
    line: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.message}"


@dataclass
class ScriptResult:
    """The outcome of one script."""

    file: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: List[Failure] = field(default_factory=list)
    #: the script did not parse: nothing ran, ``failed`` counts its assertions
    unparsed: bool = False
    #: why assertions were skipped: reason -> how many
    skip_reasons: Dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


class _Skip(Exception):
    """The assertion targets a module that failed to load earlier (or, with a reason, needs
    something not implemented yet)."""

    def __init__(self, reason: str = "depends on a module that failed to load"):
        super().__init__(reason)
        self.reason = reason


#: Why component assertions that need a running component are skipped.
NO_COMPONENT_INSTANCES = "component instantiation is not implemented yet"


class _Fail(Exception):
    """The assertion did not hold; the message says expected vs actual."""


# A module that failed to load: assertions on it are skipped.
_FAILED = object()

_ASSERTIONS = (S.AssertReturn, S.AssertTrap, S.AssertExhaustion, S.AssertException, S.AssertInvalid,
               S.AssertMalformed, S.AssertUnlinkable, S.AssertUninstantiable)

_KIND = {
    S.ModuleCommand: "module", S.Register: "register", S.ActionCommand: "action",
    S.AssertReturn: "assert_return", S.AssertTrap: "assert_trap",
    S.AssertExhaustion: "assert_exhaustion", S.AssertInvalid: "assert_invalid",
    S.AssertException: "assert_exception",
    S.AssertMalformed: "assert_malformed", S.AssertUnlinkable: "assert_unlinkable",
    S.AssertUninstantiable: "assert_uninstantiable",
    S.ComponentCommand: "component", S.ComponentInstanceCommand: "component_instance",
}


class _ComponentDefinition:
    """A component the script defined (parsed or decoded, validated and resolved)."""

    def __init__(self, component: Component):
        self.component = component


# A component instance of the script whose component needs what is not implemented (async,
# GC): every action on it is skipped with the reason kept in ``_unsupported``.
_NO_INSTANCE = object()


class WastRunner:
    """Runs the commands of one script in a fresh Store with a fresh ``spectest`` module."""

    def __init__(self, engine: Optional[Engine] = None, filename: str = "<wast>",
                 out: Optional[TextIO] = None):
        if engine is None:
            config = Config()
            config.strategy = "interp"
            engine = Engine(config)
        self.engine = engine
        self.filename = filename
        self.store = Store(engine)
        self.registry = {"spectest": spectest_instance(self.store, out)}
        #: The proposals a script of ``proposals/<name>/`` is written for (see
        #: script_features); its assert_invalid modules are judged with these alone.
        self.features = script_features(filename)
        #: The script predates reference types (WebAssembly 1.0 + its proposal): a module
        #: with more than one table is invalid to it (see _ONE_TABLE_FOLDERS).
        self.one_table = (self.features is not None
                          and feature_name(Path(filename).parent.name) in _ONE_TABLE_FOLDERS)
        #: wasmtime's scripts (a ``wasmtime...`` folder) run under wasmtime's embedding: a
        #: top-level component must also pass its root-component restrictions
        self.wasmtime = any(part.startswith("wasmtime") for part in Path(filename).parts)
        #: the gated parts of the component model on (``;;! component_model_implements = false``
        #: headers of wasmtime's scripts turn one off)
        self.component_features = COMPONENT_FEATURES
        self.named: dict = {}
        #: component definitions, by name (their own namespace, apart from instances)
        self.definitions: dict = {}
        self.current = None
        self.result = ScriptResult(filename)
        #: why an instance is _NO_INSTANCE, by name (None: the current one)
        self._unsupported: dict = {}
        #: proposals the script's header asks for that are not implemented: a component
        #: that does not load is then skipped with that reason, not failed
        self.missing_features: tuple = ()
        #: the proposals the core modules of the script's components are validated with
        self.component_core_features: frozenset = ALL_FEATURES
        #: wasmtime's component test host, made for the first component that imports
        self._cm_host: Optional[dict] = None

    # ----- driver -----

    def run(self, commands) -> ScriptResult:
        for cmd in commands:
            self.run_command(cmd)
        return self.result

    def run_command(self, cmd) -> None:
        result = self.result
        handler = getattr(self, "_" + _KIND[type(cmd)])
        try:
            handler(cmd)
        except _Skip as skip:
            if isinstance(cmd, _ASSERTIONS):
                result.skipped += 1
                result.skip_reasons[skip.reason] = result.skip_reasons.get(skip.reason, 0) + 1
            return
        except _Fail as exc:
            self._fail(cmd, str(exc))
            return
        except Exception as exc:  # a bug anywhere must not stop the rest of the script
            self._fail(cmd, f"unexpected {_describe(exc)}")
            return
        if isinstance(cmd, _ASSERTIONS):
            result.passed += 1

    def _fail(self, cmd, message: str) -> None:
        self.result.failed += 1
        self.result.failures.append(Failure(self.filename, cmd.line, _KIND[type(cmd)], message))

    # ----- modules -----

    def _load(self, source: S.ModuleSource) -> Module:
        """Decode or parse, then validate (raising DecodeError/ParseError/ValidationError)."""
        return Module._from_data(self.engine, source.load(self.engine.features))

    def _instantiate(self, module: Module, name: Optional[str] = None) -> ModuleInstance:
        externs = []
        for imp in module._data.imports:
            reg = self.registry.get(imp.module)
            if reg is _FAILED:
                raise _Skip()
            obj = None if reg is None else reg.exports.get(imp.name)
            if obj is None:
                raise LinkError(f"unknown import: `{imp.module}::{imp.name}` has not been defined")
            externs.append(obj)
        code = module._compiled() if module._data.funcs else None
        return instantiate(self.store, module._data, code, externs, name=name)

    def _module(self, cmd: S.ModuleCommand) -> None:
        name = cmd.source.name
        self.current = _FAILED
        if name is not None:
            self.named[name] = _FAILED
        try:
            inst = self._instantiate(self._load(cmd.source), name)
        except _Skip:
            raise
        except Exception as exc:
            raise _Fail(f"module failed to load: {_describe(exc)}") from None
        self.current = inst
        if name is not None:
            self.named[name] = inst

    def _instance(self, name: Optional[str]) -> ModuleInstance:
        inst = self.current if name is None else self.named.get(name)
        if inst is _FAILED:
            raise _Skip()
        if inst is _NO_INSTANCE:
            raise _Skip(self._unsupported.get(name, NO_COMPONENT_INSTANCES))
        if inst is None:
            raise _Fail(f"no module {name or ''} is defined")
        return inst

    # ----- components -----

    def _load_component(self, source: S.ComponentSource) -> Component:
        """Parse or decode, then validate a component (raising ParseError / DecodeError /
        ValidationError)."""
        return self._validate_component(self._read_component(source))

    def _validate_component(self, component) -> Component:
        """Validate a top-level component of the script (raising ValidationError)."""
        resolved = Component(component, features=self.component_core_features,
                             component_features=self.component_features)
        if self.wasmtime:
            check_root_component(component, resolved.type)
        return resolved

    def _instantiate_component(self, component: Component) -> ComponentInstance:
        """Instantiate a component of the script (raising LinkError, Trap, or NotSupportedError
        for what is not implemented)."""
        return instantiate_component(self.store, component, self._component_imports(component),
                                     self.engine,
                                     max_string_bytes=WASMTIME_MAX_STRING_BYTES if self.wasmtime else None)

    def _component_imports(self, component: Component) -> dict:
        """What a script's component may import: as in wasmtime's runner, every named component
        instance of the script (by its name without ``$``), and for wasmtime's scripts its test
        host (``host-return-two``, ``host``, ...)."""
        imports = {}
        if self.wasmtime:
            if self._cm_host is None:
                self._cm_host = component_spectest()
            imports.update(self._cm_host)
        for name, inst in self.named.items():
            if isinstance(inst, ComponentInstance) and name:
                imports[name.lstrip("$")] = inst
        return imports

    def _read_component(self, source: S.ComponentSource):
        """Parse or decode a component (raising ParseError / DecodeError)."""
        if source.kind == "binary":
            return decode_component(source.data)
        if source.kind == "quote":
            return parse_component("(component " + source.text + ")", self.filename)
        # Padded so that an error's line and column are the script's.
        text = "\n" * (source.line - 1) + " " * (source.column - 1) + source.text
        return parse_component(text, self.filename)

    def _component(self, cmd: S.ComponentCommand) -> None:
        name = cmd.source.name
        if cmd.source.definition:
            if name is not None:
                self.definitions[name] = _FAILED
        else:
            self.current = _FAILED
            if name is not None:
                self.named[name] = _FAILED
        try:
            component = self._load_component(cmd.source)
        except Exception as exc:
            if self.missing_features and isinstance(exc, (ParseError, DecodeError, ValidationError)):
                reason = (f"needs what is not implemented: the {', '.join(self.missing_features)} proposal "
                          "(the script's header asks for it; its components do not load)")
                self._unsupported[name] = self._unsupported[None] = reason
                self.current = _NO_INSTANCE
                if name is not None:
                    (self.definitions if cmd.source.definition else self.named)[name] = _NO_INSTANCE
                return
            raise _Fail(f"component failed to load: {_describe(exc)}") from None
        if cmd.source.definition:
            if name is not None:
                self.definitions[name] = _ComponentDefinition(component)
            return
        self._new_component_instance(name, component)

    def _new_component_instance(self, name: Optional[str], component: Component) -> None:
        try:
            inst = self._instantiate_component(component)
        except NotSupportedError as exc:
            inst = _NO_INSTANCE
            self._unsupported[name] = self._unsupported[None] = f"needs what is not implemented: {exc}"
        except Exception as exc:
            raise _Fail(f"component failed to instantiate: {_describe(exc)}") from None
        self.current = inst
        if name is not None:
            self.named[name] = inst

    def _component_instance(self, cmd: S.ComponentInstanceCommand) -> None:
        definition = self.definitions.get(cmd.component) if cmd.component is not None else None
        if definition is _NO_INSTANCE:      # did not load, needing what is not implemented
            self.current = _NO_INSTANCE
            self._unsupported[None] = self._unsupported.get(cmd.component, NO_COMPONENT_INSTANCES)
            if cmd.name is not None:
                self.named[cmd.name] = _NO_INSTANCE
                self._unsupported[cmd.name] = self._unsupported[None]
            return
        self.current = _FAILED
        if cmd.name is not None:
            self.named[cmd.name] = self.current
        if definition is _FAILED:
            raise _Skip()
        if not isinstance(definition, _ComponentDefinition):
            raise _Fail(f"no component definition {cmd.component or ''} is defined")
        self._new_component_instance(cmd.name, definition.component)

    def _component_expected_valid(self, source: S.ComponentSource) -> Component:
        try:
            return self._load_component(source)
        except Exception as exc:
            raise _Fail(f"component failed to load: {_describe(exc)}") from None

    def _expect_component_failure(self, source: S.ComponentSource, message: str, link: bool) -> None:
        """assert_unlinkable (``link``) / assert_uninstantiable / assert_trap of a component."""
        component = self._component_expected_valid(source)
        want = "link error" if link else "trap"
        try:
            self._instantiate_component(component)
        except NotSupportedError as exc:
            raise _Skip(f"needs what is not implemented: {exc}") from None
        except LinkError as exc:
            if not link:
                raise _Fail(f"expected trap {message!r}, failed to link: {exc}") from None
            if not _component_message_matches(message, exc):
                raise _Fail(f"expected link error {message!r}, got {str(exc)!r}") from None
            return
        except Trap as exc:
            if link:
                raise _Fail(f"expected link error {message!r}, trapped: {exc.message!r}") from None
            if not _component_message_matches(message, exc):
                raise _Fail(f"expected trap {message!r}, trapped: {exc.message!r}") from None
            return
        raise _Fail(f"expected {want} {message!r}, instantiated")

    def _register(self, cmd: S.Register) -> None:
        try:
            self.registry[cmd.as_name] = self._instance(cmd.module)
        except _Skip:
            self.registry[cmd.as_name] = _FAILED
            raise

    # ----- actions -----

    def _perform(self, action) -> list:
        inst = self._instance(action.module)
        if isinstance(inst, ComponentInstance):
            return self._perform_component(inst, action)[0]
        obj = inst.exports.get(action.name)
        if isinstance(action, S.Get):
            if not isinstance(obj, GlobalInstance):
                raise _Fail(f"no global export {action.name!r}")
            return [obj.value]
        if not isinstance(obj, FuncInstance):
            raise _Fail(f"no function export {action.name!r}")
        r = obj.call(*[_arg(v) for v in action.args])
        nres = len(obj.type.results)
        if nres == 1:
            return [r]
        return [] if nres == 0 else list(r)

    def _perform_component(self, inst: ComponentInstance, action) -> tuple:
        """Invoke a component export: ``([result] or [], result type)``."""
        f = inst.exports.get(action.name)
        if isinstance(action, S.Get) or not hasattr(f, "type") or not callable(f):
            raise _Fail(f"no function export {action.name!r}")
        params = f.type.params
        if len(params) != len(action.args):
            raise _Fail(f"{action.name!r} takes {len(params)} arguments, {len(action.args)} given")
        try:
            args = [cv_to_python(a, t) for a, (_, t) in zip(action.args, params)]
        except ValueMismatch as exc:
            raise _Fail(f"argument does not fit the parameter type: {exc}") from None
        try:
            r = f(*args)
        except NotSupportedError as exc:
            raise _Skip(f"needs what is not implemented: {exc}") from None
        return ([] if f.type.result is None else [r]), f.type.result

    def _action(self, cmd: S.ActionCommand) -> None:
        try:
            self._perform(cmd.action)
        except Trap as exc:
            raise _Fail(f"trapped: {exc.message}") from None

    def _assert_return(self, cmd: S.AssertReturn) -> None:
        inst = self._instance(cmd.action.module)
        if isinstance(inst, ComponentInstance):
            try:
                results, rtype = self._perform_component(inst, cmd.action)
            except Trap as exc:
                raise _Fail(f"expected {cmd.expected!r}, trapped: {exc.message}") from None
            if len(results) != len(cmd.expected) or not all(
                    cv_matches(e, r, rtype) for e, r in zip(cmd.expected, results)):
                raise _Fail(f"expected {cmd.expected!r}, got {results!r}")
            return
        try:
            results = self._perform(cmd.action)
        except Trap as exc:
            raise _Fail(f"expected {_show_expected(cmd.expected)}, trapped: {exc.message}") from None
        if len(results) != len(cmd.expected) or not all(
                _matches(e, r) for e, r in zip(cmd.expected, results)):
            raise _Fail(f"expected {_show_expected(cmd.expected)}, got {_show_results(cmd.expected, results)}")

    def _expect_trap(self, action, message: str, exhaustion: bool = False) -> None:
        try:
            results = self._perform(action)
        except Trap as exc:
            if exhaustion and exc.code is not TrapCode.STACK_OVERFLOW:
                raise _Fail(f"expected stack exhaustion, trapped: {exc.message}") from None
            component = isinstance(self._instance(action.module), ComponentInstance)
            if not (_component_message_matches(message, exc) if component else exc.message.startswith(message)):
                raise _Fail(f"expected trap {message!r}, trapped: {exc.message!r}") from None
            return
        raise _Fail(f"expected trap {message!r}, returned {results!r}")

    def _assert_trap(self, cmd: S.AssertTrap) -> None:
        if isinstance(cmd.module, S.ComponentSource):
            self._expect_component_failure(cmd.module, cmd.message, link=False)
            return
        if cmd.action is not None:
            self._expect_trap(cmd.action, cmd.message)
        else:
            self._expect_instantiation_trap(cmd.module, cmd.message)

    def _assert_exhaustion(self, cmd: S.AssertExhaustion) -> None:
        self._expect_trap(cmd.action, cmd.message, exhaustion=True)

    def _assert_exception(self, cmd: S.AssertException) -> None:
        try:
            results = self._perform(cmd.action)
        except WasmException:
            return
        except Trap as exc:
            raise _Fail(f"expected an uncaught exception, trapped: {exc.message}") from None
        raise _Fail(f"expected an uncaught exception, returned {results!r}")

    def _assert_uninstantiable(self, cmd: S.AssertUninstantiable) -> None:
        if isinstance(cmd.module, S.ComponentSource):
            self._expect_component_failure(cmd.module, cmd.message, link=False)
            return
        self._expect_instantiation_trap(cmd.module, cmd.message)

    def _expect_instantiation_trap(self, source: S.ModuleSource, message: str) -> None:
        module = self._load_expected_valid(source)
        try:
            self._instantiate(module)
        except Trap as exc:
            if not exc.message.startswith(message):
                raise _Fail(f"expected trap {message!r}, trapped: {exc.message!r}") from None
            return
        except LinkError as exc:
            raise _Fail(f"expected trap {message!r}, failed to link: {exc}") from None
        raise _Fail(f"expected trap {message!r}, instantiated")

    def _assert_unlinkable(self, cmd: S.AssertUnlinkable) -> None:
        if isinstance(cmd.module, S.ComponentSource):
            self._expect_component_failure(cmd.module, cmd.message, link=True)
            return
        module = self._load_expected_valid(cmd.module)
        try:
            self._instantiate(module)
        except LinkError as exc:
            if not str(exc).startswith(cmd.message):
                raise _Fail(f"expected link error {cmd.message!r}, got {str(exc)!r}") from None
            return
        except Trap as exc:
            raise _Fail(f"expected link error {cmd.message!r}, trapped: {exc.message!r}") from None
        raise _Fail(f"expected link error {cmd.message!r}, instantiated")

    def _load_expected_valid(self, source: S.ModuleSource) -> Module:
        try:
            return self._load(source)
        except (DecodeError, ParseError, ValidationError) as exc:
            raise _Fail(f"module failed to load: {_describe(exc)}") from None

    # ----- static assertions -----

    def _assert_invalid(self, cmd: S.AssertInvalid) -> None:
        if isinstance(cmd.module, S.ComponentSource):
            try:
                component = self._read_component(cmd.module)
            except (DecodeError, ParseError) as exc:
                # The component scripts are written for wasm-tools, which decodes and validates
                # in one pass: an assert_invalid is met by the first error with its message,
                # whichever step finds it (binary.wast:946 expects "invalid leading byte").
                if isinstance(exc, DecodeError) and _component_message_matches(cmd.message, exc):
                    return
                raise _Fail(f"expected invalid {cmd.message!r}, malformed: {_describe(exc)}") from None
            try:
                self._validate_component(component)
            except ValidationError as exc:
                if not _component_message_matches(cmd.message, exc):
                    raise _Fail(f"expected invalid {cmd.message!r}, got {exc.reason!r}") from None
                return
            raise _Fail(f"expected invalid {cmd.message!r}, component is valid")
        try:
            data = cmd.module.load(self.engine.features)
        except (DecodeError, ParseError) as exc:
            raise _Fail(f"expected invalid {cmd.message!r}, malformed: {_describe(exc)}") from None
        try:
            if self.features is not None:
                validate(data, features=self.features)
            Module._from_data(self.engine, data)
            if (self.one_table and cmd.message == "multiple tables"
                    and len(data.tables) + sum(i.kind == TABLE for i in data.imports) > 1):
                return      # invalid in the 1.0 its script is written for (see _ONE_TABLE_FOLDERS)
        except ValidationError as exc:
            if not _message_matches(cmd.message, exc):
                raise _Fail(f"expected invalid {cmd.message!r}, got {exc.reason!r}") from None
            return
        raise _Fail(f"expected invalid {cmd.message!r}, module is valid")

    def _assert_malformed(self, cmd: S.AssertMalformed) -> None:
        if isinstance(cmd.module, S.ComponentSource):
            try:
                component = self._read_component(cmd.module)
            except (DecodeError, ParseError) as exc:
                if not _component_message_matches(cmd.message, exc):
                    raise _Fail(f"expected malformed {cmd.message!r}, got {exc.reason!r}") from None
                return
            try:
                self._validate_component(component)
            except ValidationError as exc:
                raise _Fail(f"expected malformed {cmd.message!r}, decoded but invalid: {exc}") from None
            raise _Fail(f"expected malformed {cmd.message!r}, component is well-formed and valid")
        try:
            data = cmd.module.load(self.engine.features)
        except (DecodeError, ParseError) as exc:
            if not _message_matches(cmd.message, exc):
                raise _Fail(f"expected malformed {cmd.message!r}, got {exc.reason!r}") from None
            return
        try:
            Module._from_data(self.engine, data)
        except ValidationError as exc:
            raise _Fail(f"expected malformed {cmd.message!r}, decoded but invalid: {exc}") from None
        raise _Fail(f"expected malformed {cmd.message!r}, module is well-formed and valid")


#: Proposals whose scripts also use another proposal: the function-references scripts
#: include the tail-call scripts (return_call, return_call_indirect), as its repository did;
#: exception handling's try_table.wast uses return_call too.
_SCRIPT_NEEDS = {"function-references": ("tail-call",), "exceptions": ("tail-call",),
                 "gc": ("function-references", "tail-call")}


def script_features(filename: str):
    """The proposals a script is written for: for ``.../proposals/<name>/x.wast``, proposal
    ``name`` and what its scripts also use, else ``None`` (the engine's own set).  A
    proposal's scripts predate the others, so judging their assert_invalid modules with
    every proposal on could disagree with them (the function-references elem.wast expects a
    non-constant ``i32.add`` in an element expression, which extended-const makes constant)."""
    path = Path(filename)
    if path.parent.parent.name != "proposals":
        return None
    name = feature_name(path.parent.name)
    if name not in FEATURES:
        return None
    return frozenset((name,) + _SCRIPT_NEEDS.get(name, ()))


#: Messages the spec suite words differently in different scripts for the same rule: the
#: 2.0 scripts' "global is immutable" is "immutable global" in the function-references
#: scripts, and a custom section whose size runs past the end of the binary is "length out
#: of bounds" in the 2.0 custom.wast but "unexpected end" in that proposal's copy.  wasmforge
#: keeps one wording per rule; the other wording is accepted for it here.
_SAME_RULE = {"immutable global": ("global is immutable",),
              "unexpected end": ("length out of bounds",)}


def _message_matches(expected: str, exc: WasmError) -> bool:
    reason = getattr(exc, "reason", None) or str(exc)
    for wording in (expected,) + _SAME_RULE.get(expected, ()):
        if reason.startswith(wording) or str(exc).startswith(wording):
            return True
    return False


def _component_message_matches(expected: str, exc: WasmError) -> bool:
    """Component scripts are written for wasm-tools and wasmtime, whose runners accept an
    error whose message contains the expected text (the context they add comes first:
    "type mismatch for component instantiation argument `b`: resource types are not the
    same")."""
    reason = getattr(exc, "reason", None) or str(exc)
    if isinstance(exc, Trap):
        # wasmtime's runner prints a trap as "wasm trap: <message>"
        reason = getattr(exc, "message", None) or reason
        if expected.startswith("wasm trap: "):
            expected = expected[len("wasm trap: "):]
    return expected in reason or expected in str(exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# ----- values -----

def _arg(v):
    """A script argument in the internal value form."""
    if isinstance(v, S.Const):
        t = v.type
        if t == "i32":
            return v.value & MASK32
        if t == "i64":
            return v.value & MASK64
        if t == "f32":
            return f32_from_bits(v.value)
        if t == "f64":
            return f64_from_bits(v.value)
        return v.value
    if isinstance(v, S.RefNull):
        return None
    if isinstance(v, S.RefHost):
        return HostAny(ExternRef(v.value))
    return ExternRef(v.value)


_LANE_BITS = {"i8x16": 8, "i16x8": 16, "i32x4": 32, "i64x2": 64, "f32x4": 32, "f64x2": 64}


def _nan_matches(pattern: S.NanPattern, bits: int) -> bool:
    # spec 4.3.3: a canonical NaN has only the quiet bit set in its payload; an arithmetic NaN
    # has the quiet bit set (any payload); the sign is free in both.
    if pattern.type == "f32":
        quiet, mag = 0x7FC00000, bits & 0x7FFFFFFF
    else:
        quiet, mag = 0x7FF8000000000000, bits & 0x7FFFFFFFFFFFFFFF
    if pattern.kind == "canonical":
        return mag == quiet
    return mag & quiet == quiet


def _matches(expected, actual) -> bool:
    if isinstance(expected, S.Const):
        t = expected.type
        if t == "f32":
            return isinstance(actual, float) and f32_to_bits(actual) == expected.value
        if t == "f64":
            return isinstance(actual, float) and f64_to_bits(actual) == expected.value
        if not isinstance(actual, int) or isinstance(actual, bool):
            return False
        if t == "i32":
            return actual == expected.value & MASK32
        if t == "i64":
            return actual == expected.value & MASK64
        return actual == expected.value
    if isinstance(expected, S.NanPattern):
        if not isinstance(actual, float):
            return False
        bits = f32_to_bits(actual) if expected.type == "f32" else f64_to_bits(actual)
        return _nan_matches(expected, bits)
    if isinstance(expected, S.V128Pattern):
        if not isinstance(actual, int):
            return False
        width = _LANE_BITS[expected.shape]
        mask = (1 << width) - 1
        for i, lane in enumerate(expected.lanes):
            bits = (actual >> (i * width)) & mask
            if isinstance(lane, S.NanPattern):
                if not _nan_matches(lane, bits):
                    return False
            elif bits != lane & mask:
                return False
        return True
    if isinstance(expected, S.RefNull):
        return actual is None
    if isinstance(expected, S.RefExtern):
        return actual == ExternRef(expected.value)
    if isinstance(expected, S.RefFunc):
        return isinstance(actual, FuncInstance)
    if isinstance(expected, S.RefHost):
        return actual == HostAny(ExternRef(expected.value))
    if isinstance(expected, S.RefKind):
        return _REF_KINDS[expected.kind](actual)
    if isinstance(expected, S.Either):
        return any(_matches(alt, actual) for alt in expected.alternatives)
    return False


#: GC scripts' result patterns ``(ref.struct)`` ...: which values they accept.
_REF_KINDS = {
    "struct": lambda v: isinstance(v, Struct),      # (llvm: a subclass, llvm/gcheap.py)
    "array": lambda v: isinstance(v, Array),
    "i31": lambda v: type(v) is I31,
    "eq": lambda v: isinstance(v, (Struct, Array, I31)),
    "any": lambda v: isinstance(v, (Struct, Array, I31, HostAny)),
    "extern": lambda v: v is not None,
}


def _show_expected(expected) -> str:
    return "[" + ", ".join(_show_pattern(e) for e in expected) + "]"


def _show_pattern(e) -> str:
    if isinstance(e, S.Const):
        return _show_value(e.type, _arg(e))
    if isinstance(e, S.NanPattern):
        return f"{e.type}:nan:{e.kind}"
    if isinstance(e, S.V128Pattern):
        lanes = " ".join(f"nan:{x.kind}" if isinstance(x, S.NanPattern) else hex(x) for x in e.lanes)
        return f"v128:{e.shape} {lanes}"
    if isinstance(e, S.RefNull):
        return f"ref.null {e.type}"
    if isinstance(e, S.RefExtern):
        return f"ref.extern {e.value}"
    if isinstance(e, S.RefHost):
        return f"ref.host {e.value}"
    if isinstance(e, S.RefKind):
        return f"ref.{e.kind}"
    if isinstance(e, S.Either):
        return "either(" + " | ".join(_show_pattern(a) for a in e.alternatives) + ")"
    return "ref.func"


def _show_results(expected, results) -> str:
    types = [getattr(e, "type", None) for e in expected]
    types += [None] * (len(results) - len(types))
    return "[" + ", ".join(_show_value(t, r) for t, r in zip(types, results)) + "]"


def _show_value(t, v) -> str:
    if isinstance(v, float):
        if t == "f32":
            return f"f32:{v!r} (0x{f32_to_bits(v):08x})"
        return f"f64:{v!r} (0x{f64_to_bits(v):016x})"
    if isinstance(v, int) and not isinstance(v, bool):
        if t in ("v128", "i8x16", "i16x8", "i32x4", "i64x2", "f32x4", "f64x2"):
            return f"v128:0x{v:032x}"
        return f"{t or 'int'}:{v} (0x{v:x})"
    return repr(v)


# ----- entry points -----

_TOP_LEVEL_KEYWORD = re.compile(r"[ \t\r\n]*([a-z_]+)")


def count_top_level(text: str) -> tuple:
    """``(commands, assertions)``: how many top-level forms a script's text holds, and how
    many of them are assertions (``assert_*``), found by matching parentheses outside strings
    and comments.  Used for a script that does not parse, so that it is counted by what it
    would have run, not as one failure."""
    commands = assertions = depth = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif text.startswith(";;", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("(;", i):
            nest, i = 1, i + 2
            while i < n and nest:
                if text.startswith("(;", i):
                    nest, i = nest + 1, i + 2
                elif text.startswith(";)", i):
                    nest, i = nest - 1, i + 2
                else:
                    i += 1
            continue
        elif c == "(":
            if depth == 0:
                commands += 1
                m = _TOP_LEVEL_KEYWORD.match(text, i + 1)
                assertions += bool(m and m.group(1).startswith("assert_"))
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        i += 1
    return commands, assertions


#: Proposals whose scripts contradict the scripts written before them: the 2.0 suite (and the
#: other proposals' folders) expect "multiple memories" to be invalid, a reserved zero byte
#: after memory.size, u32 memarg offsets and limits, and the opcodes, section id 13 and
#: import kind 4 that exception handling took to be malformed, and a u1 limits flag (threads
#: reads it as a byte with bit 1 for a shared memory), and an "unknown global" for a constant
#: expression reading a global defined in the module (GC allows the earlier ones).  Each is on
#: only for its own folder (exception handling's is "exception-handling").
_OWN_FOLDER_ONLY = ("multi-memory", "memory64", "exceptions", "threads", "gc")


#: Proposals whose scripts are written for WebAssembly 1.0, before reference types allowed
#: several tables: their assert_invalid "multiple tables" modules (valid since 2.0) count as
#: invalid when they have more than one table, as the reference interpreter of that proposal
#: judged them.
_ONE_TABLE_FOLDERS = ("threads",)

def suite_features(path, features: frozenset) -> frozenset:
    """The proposals a script of the test suite at ``path`` runs with: ``features`` without
    those of :data:`_OWN_FOLDER_ONLY` that the script's folder is not about."""
    folder = feature_name(Path(path).parent.name)
    return frozenset(f for f in features if f not in _OWN_FOLDER_ONLY or f == folder)


_SUITE_ENGINES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _suite_engine(engine: Engine, features: frozenset) -> Engine:
    """``engine`` with only ``features`` on: the same tier, settings, epoch counter and
    compiled-code loader (a shallow copy), kept per engine so that scripts share it."""
    if features == engine.features:
        return engine
    per_engine = _SUITE_ENGINES.setdefault(engine, {})
    derived = per_engine.get(features)
    if derived is None:
        derived = copy.copy(engine)
        derived.features = features
        per_engine[features] = derived
    return derived


#: wasmtime's ``;;! component_model_X = false`` headers -> the gated component-model feature.
_HEADER_FEATURES = {"component_model_implements": "cm-implements"}
_HEADER = re.compile(r";;!\s*([A-Za-z0-9_]+)\s*=\s*(true|false)")


def header_component_features(text: str) -> frozenset:
    """The gated component-model features a script runs with: all of them, less those its
    ``;;! name = false`` header lines (wasmtime's misc_testsuite) turn off."""
    features = set(COMPONENT_FEATURES)
    for m in _HEADER.finditer(text):
        feature = _HEADER_FEATURES.get(m.group(1))
        if feature is not None and m.group(2) == "false":
            features.discard(feature)
    return frozenset(features)


#: wasmtime's ``;;! X = true`` header names of the proposals -> their names.
_PROPOSAL_HEADERS = {name.replace("-", "_"): name for name in FEATURES}


def header_features(text: str) -> frozenset:
    """The proposals a script's ``;;! name = true`` headers (wasmtime's misc_testsuite) ask
    for (``gc``, ``multi-memory`` ...; wasmtime-only settings such as ``hogs_memory`` are not
    proposals and are left out)."""
    return frozenset(_PROPOSAL_HEADERS[m.group(1)] for m in _HEADER.finditer(text)
                     if m.group(2) == "true" and m.group(1) in _PROPOSAL_HEADERS)


def runnable(feature: str, strategy: str) -> bool:
    """Whether an engine of tier ``strategy`` can run modules of proposal ``feature``:
    implemented, or implemented on the interp tier only (:data:`INTERP_ONLY`) and this is it."""
    return FEATURES[feature].implemented or (feature in INTERP_ONLY and strategy == "interp")


def header_missing_features(text: str, strategy: str = "interp") -> tuple:
    """The proposals a script's ``;;! name = true`` headers (wasmtime's misc_testsuite) ask
    for that an engine of tier ``strategy`` cannot run (``gc`` on a tier without it)."""
    return tuple(sorted(f for f in header_features(text) if not runnable(f, strategy)))


def run_script(path, engine: Optional[Engine] = None, out: Optional[TextIO] = None) -> ScriptResult:
    """Run the WAST script at ``path``.  A script that does not parse runs nothing: each of
    its top-level assertions counts as failed (at least one failure), with one Failure
    saying why and how much did not run.  The script runs with the proposals its folder of
    the test suite is written for (:func:`suite_features`)."""
    from ..text.wast import parse_script  # start-up speed: script files only
    path = Path(path)
    name = str(path)
    text = None
    try:
        text = path.read_text(encoding="utf-8")
        commands = parse_script(text, filename=name)
    except (ParseError, OSError, UnicodeDecodeError) as exc:
        ncommands, nassertions = count_top_level(text) if text is not None else (0, 0)
        result = ScriptResult(name, failed=max(1, nassertions))
        result.failures.append(Failure(
            name, getattr(exc, "line", 0), "script",
            f"script does not parse, so none of its {ncommands} top-level commands "
            f"({nassertions} assertions) ran: {_describe(exc)}"))
        result.unparsed = True
        return result
    if engine is None:
        config = Config()
        config.strategy = "interp"
        engine = Engine(config)
    features = suite_features(path, engine.features)
    folder = feature_name(path.resolve().parent.name)
    if folder in INTERP_ONLY and engine.strategy == "interp" and path.resolve().parent.parent.name == "proposals":
        # A proposal done on the interp tier only runs its own scripts there (the llvm
        # tier refuses its modules, so its scripts are pending on that tier).
        features |= {folder}
    features |= {f for f in header_features(text) if runnable(f, engine.strategy)}
    engine = _suite_engine(engine, features)
    runner = WastRunner(engine, name, out)
    runner.component_features = header_component_features(text)
    runner.missing_features = header_missing_features(text, engine.strategy)
    # The proposals the header asks for that this tier runs (``;;! gc = true`` on interp):
    # on for the script's components' core modules too.
    runner.component_core_features = ALL_FEATURES | {f for f in header_features(text)
                                                     if runnable(f, engine.strategy)}
    try:
        return runner.run(commands)
    finally:
        # Unmap the script's memories now rather than whenever the cycle collector runs.
        runner.store.close()
