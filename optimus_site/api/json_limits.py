"""How deeply nested a JSON body, and the free-form JSON fields in it, may be."""

# A body nested deeper than this is refused as a whole (Python's json would raise RecursionError
# near 1,000); the free-form JSON fields (event context, customer attributes) allow MAX_FIELD_DEPTH,
# per row, well inside MariaDB's own limit of 32 for a JSON column.
MAX_BODY_DEPTH = 64
MAX_FIELD_DEPTH = 10


def json_depth(value) -> int:
    """How deeply `value` nests lists and objects: 0 for a scalar, 1 for [1, 2] or {"a": 1}.
    Iterative, so any depth can be measured without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest
