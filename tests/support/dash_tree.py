"""Reading a Dash component tree in tests: its text, a component by id, every component.

Static HTML (components/static_html.py) is read through the tree it was made from (``holder.source``)."""
from __future__ import annotations


def texts_of(component) -> list[str]:
    """Every string in a Dash component tree (children only)."""
    out: list[str] = []

    def walk(node):
        if node is None:
            return
        if isinstance(node, (str, int, float)):
            out.append(str(node))
            return
        if isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
            return
        walk(_inside(node))

    walk(component)
    return out


def find(component, component_id):
    """The first component with ``id == component_id`` in a tree (None when absent)."""
    if isinstance(component, (list, tuple)):
        for item in component:
            hit = find(item, component_id)
            if hit is not None:
                return hit
        return None
    if component is None or isinstance(component, (str, int, float)):
        return None
    if getattr(component, "id", None) == component_id:
        return component
    return find(_inside(component), component_id)


def text_of(component) -> str:
    """All text inside a component tree, whitespace collapsed."""
    return " ".join(" ".join(texts_of(component)).split())


def walk(node):
    """Every component of a Dash component tree, depth first."""
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from walk(item)
        return
    if node is None or isinstance(node, (str, int, float)):
        return
    yield node
    yield from walk(_inside(node))


def _inside(node):
    """What a component holds: its children, or for static HTML the tree it was made from."""
    source = getattr(node, "source", None)
    return source if source is not None else getattr(node, "children", None)
