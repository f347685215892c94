"""A vendored copy of a tiny table formatter (left out of the repository map)."""


def tabulate(rows: list[list[str]]) -> str:
    return "\n".join(" | ".join(row) for row in rows)
