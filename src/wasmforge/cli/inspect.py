"""``wasmforge inspect FILE``: what a module holds — sections with offsets and sizes, the
features beyond 2.0 it uses, imports, exports, counts, limits and custom sections — as a table,
or as JSON with ``--json``.  Of a component: its definitions, imports and exports.  Of an
artifact (``wasmforge compile``): its kind, format version, sizes, the engine settings it
loads with, and a component's number of core modules, read from its header (nothing loaded)."""

from __future__ import annotations

import json
import sys

import click

from ..binary.leb128 import read_u32
from ..cm.wit import is_wit_package, package_from_component, print_wit, world_from_component
from ..errors import WasmError, WitError, printable
from ..module import FUNC, GLOBAL, MEMORY, TABLE, TAG, Module
from ._component import (describe_component, is_component, load_component, render_component,
                         summarize_component)
from ._load import MAGIC, InputError, describe, die, load, read_file

SECTION_NAMES = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
                 6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data",
                 12: "datacount", 13: "tag"}


def scan_sections(data: bytes) -> list:
    """(id, name, offset of the section header, payload offset, payload size) per section.

    Only called on bytes that already decoded, so the layout is known to be well-formed.
    """
    out = []
    pos = 8
    while pos < len(data):
        start = pos
        sid = data[pos]
        pos += 1
        size, pos = read_u32(data, pos)
        name = SECTION_NAMES.get(sid, f"unknown({sid})")
        if sid == 0:
            n, p = read_u32(data, pos)
            name = "custom:" + bytes(data[p:p + n]).decode("utf-8", "replace")
        out.append((sid, name, start, pos, size))
        pos += size
    return out


def _limits(lim) -> dict:
    return {"min": lim.min, "max": lim.max}


def _describe_import(module: Module, imp) -> dict:
    entry = {"module": imp.module, "name": imp.name, "kind": imp.kind}
    if imp.kind == FUNC or imp.kind == TAG:
        entry["type"] = str(module.types[imp.desc]) if imp.desc < len(module.types) else f"type {imp.desc}"
    elif imp.kind == TABLE:
        entry.update(element=imp.desc.element, limits=_limits(imp.desc.limits))
    elif imp.kind == MEMORY:
        entry["limits"] = _limits(imp.desc.limits)
    else:
        entry.update(type=imp.desc.content, mutable=imp.desc.mutable)
    return entry


def features(module: Module) -> list:
    """The proposals beyond WebAssembly 2.0 that ``module`` uses, by their proposal names.

    Only features that decode and validate today can show up here (a module using any other
    is refused before inspect sees it); the list grows as proposals are implemented."""
    from ..runtime.constexpr import uses_extended_const  # start-up speed: loaded when the subcommand runs
    exprs = [g.init for g in module.globals]
    for seg in module.elems:
        exprs += seg.init
        if seg.offset:
            exprs.append(seg.offset)
    exprs += [d.offset for d in module.datas if d.offset]
    used = []
    if any(uses_extended_const(e) for e in exprs):
        used.append("extended-const")
    if any(t.is_64 for t in module.mem_types() + module.table_types()):
        used.append("memory64")
    if len(module.mem_types()) > 1:
        used.append("multi-memory")
    if any(t.shared for t in module.mem_types()):
        used.append("threads")
    # Instructions of a proposal carry its name in the opcode table (Op.feature).
    in_bodies = set()
    for f in module.funcs:
        for instr in f.iter_body():
            feature = instr[0].feature
            if feature is not None:
                in_bodies.add(feature)
    used += sorted(in_bodies - set(used))
    if "function-references" not in used and module.uses_typed_references(bodies=False):
        used.append("function-references")
    # Exception handling also without its instructions: tags, exnref values.
    if "exceptions" not in used and (module.tags or module.num_imported(TAG) or any(
            "exnref" in t.params or "exnref" in t.results for t in module.types)):
        used.append("exceptions")
    return used


def summarize(module: Module, data: bytes | None) -> dict:
    """Everything `inspect` reports, as plain data (what --json prints)."""
    names = module.names
    info = {
        "module_name": names.module,
        "sections": [],
        "counts": {
            "types": len(module.types),
            "imports": len(module.imports),
            "functions": len(module.funcs) + module.num_imported(FUNC),
            "defined_functions": len(module.funcs),
            "tables": len(module.tables) + module.num_imported(TABLE),
            "memories": len(module.mems) + module.num_imported(MEMORY),
            "globals": len(module.globals) + module.num_imported(GLOBAL),
            "tags": len(module.tags) + module.num_imported(TAG),
            "exports": len(module.exports),
            "elements": len(module.elems),
            "data": len(module.datas),
        },
        "imports": [_describe_import(module, imp) for imp in module.imports],
        "exports": [{"name": e.name, "kind": e.kind, "index": e.index} for e in module.exports],
        "memories": [_limits(m.type.limits) for m in module.mems],
        "tables": [{"element": t.type.element, "limits": _limits(t.type.limits)} for t in module.tables],
        "start": module.start,
        "features": features(module),
        "custom_sections": [],
    }
    if data is not None and data[:4] == MAGIC:
        for sid, name, start, payload, size in scan_sections(data):
            info["sections"].append({"id": sid, "name": name, "offset": start,
                                     "payload_offset": payload, "size": size})
            if sid == 0:
                info["custom_sections"].append({"name": name[len("custom:"):], "offset": start, "size": size})
    else:
        info["custom_sections"] = [{"name": c.name, "size": len(c.data)} for c in module.customs]
    return info


def render(info: dict) -> str:
    """The human-readable report."""
    lines = []
    if info["module_name"]:
        lines.append(f"module ${info['module_name']}")
    if info["sections"]:
        lines.append("sections:")
        lines.append(f"  {'id':>3}  {'name':<24} {'offset':>10} {'size':>10}")
        for s in info["sections"]:
            lines.append(f"  {s['id']:>3}  {s['name']:<24} {s['offset']:>#10x} {s['size']:>10}")
    if info["features"]:
        lines.append("features: " + ", ".join(info["features"]))
    lines.append("counts:")
    for key, value in info["counts"].items():
        lines.append(f"  {key:<18} {value}")
    if info["imports"]:
        lines.append("imports:")
        for imp in info["imports"]:
            detail = {k: v for k, v in imp.items() if k not in ("module", "name", "kind")}
            lines.append(f"  {imp['kind']:<7} {imp['module']}.{imp['name']}  {_fmt(detail)}")
    if info["exports"]:
        lines.append("exports:")
        for e in info["exports"]:
            lines.append(f"  {e['kind']:<7} {e['name']}  (index {e['index']})")
    for m in info["memories"]:
        lines.append(f"memory: {_fmt({'limits': m})}")
    for t in info["tables"]:
        lines.append(f"table: {_fmt(t)}")
    if info["start"] is not None:
        lines.append(f"start: function {info['start']}")
    if info["custom_sections"]:
        lines.append("custom sections:")
        for c in info["custom_sections"]:
            lines.append(f"  {c['name']}  ({c['size']} bytes)")
    # Module, import, export and section names are the module author's: escape what a
    # terminal would interpret (escape sequences, bidi overrides, newlines).
    return "\n".join(printable(line) for line in lines)


def render_artifact(info: dict) -> str:
    """The human-readable report of an artifact (``wasmforge compile`` output)."""
    lines = [f"artifact: {info['artifact']} (format version {info['format_version']}, {info['size']} bytes; "
             f"its binary {info['binary_size']} bytes)"]
    if "core_modules" in info:
        lines.append(f"core modules: {info['core_modules']}")
    else:
        size = info["machine_code_size"]
        lines.append(f"machine code: {size} bytes" if size else "machine code: none (compiled or translated on use)")
    lines.append("made with (loads only with the same):")
    for key, value in info["settings"].items():
        if isinstance(value, list):
            value = ", ".join(map(str, value))
        lines.append(f"  {key:<18} {value}")
    # the header's strings are the file's: escaped as a module's names are
    return "\n".join(printable(line) for line in lines)


def _fmt(detail: dict) -> str:
    parts = []
    for key, value in detail.items():
        if key == "limits":
            value = f"min {value['min']}" + ("" if value["max"] is None else f", max {value['max']}")
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _component_wit(component) -> str:
    """The WIT of a component (a WIT package's, or a compiled component's world), or why it
    has none."""
    try:
        if is_wit_package(component):
            resolve = package_from_component(component)
        else:
            resolve = world_from_component(component)
    except WitError as exc:
        return f"// no WIT: {exc.reason}\n"
    return print_wit(resolve, with_deps=True)


@click.command("inspect")
@click.argument("input", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--wit", "with_wit", is_flag=True,
              help="For a component: also show its WIT (the world wasm-tools derives from it).")
def command(input, as_json, with_wit):
    """Show a module's sections, features beyond 2.0, imports, exports, counts and limits
    (for a component: its definitions, and its imports and exports with their types; with
    --wit its WIT; for an artifact of `wasmforge compile`: its kind and the settings it loads
    with)."""
    from ..api.aot import describe_artifact, is_artifact  # start-up speed: loaded when the subcommand runs

    data = b""
    try:
        data = read_file(input)
        if is_artifact(data):
            # what it holds from its header alone: its code is not loaded (nor trusted)
            if with_wit:
                raise WasmError("--wit: an artifact's WIT is its component's: inspect the .wasm it was made from")
            info = describe_artifact(data)
            if as_json:
                json.dump(info, sys.stdout, indent=2)
                sys.stdout.write("\n")
            else:
                click.echo(render_artifact(info))
            return
        if is_component(data):
            component, ctype = load_component(data, input)
            info = summarize_component(component, ctype, data)
            if with_wit:
                info["wit"] = _component_wit(component)
            if as_json:
                json.dump(info, sys.stdout, indent=2)
                sys.stdout.write("\n")
            else:
                click.echo("\n".join(printable(line)
                                      for line in render_component(info).split("\n")))
            return
        module = load(input, data)
    except (WasmError, InputError) as exc:
        die(describe_component(input, exc) if is_component(data) else describe(input, exc))
    info = summarize(module, data)
    if as_json:
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        click.echo(render(info))
