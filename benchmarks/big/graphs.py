"""The DOT graphs graphviz's benchmarks render (``graphviz_render.py``, ``graphviz_steady.py``)."""


def graph(n: int) -> str:
    """A layered graph of n nodes with cross edges and clusters: real work for dot."""
    lines = ["digraph G {", "  rankdir=LR; node [shape=box];"]
    for c in range(3):
        lines.append(f"  subgraph cluster_{c} {{ label=\"part {c}\";")
        lines += [f"    n{i};" for i in range(c, n, 3)]
        lines.append("  }")
    for i in range(1, n):
        lines.append(f"  n{(i * 7) % i} -> n{i} [label=\"{i}\"];")
        if i % 4 == 0:
            lines.append(f"  n{i} -> n{(i * 3) // 5};")
    lines.append("}")
    return "\n".join(lines)
