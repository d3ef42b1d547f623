"""Named SQL blocks from queries.sql (`-- name: <block>` starts each)."""

import re
from importlib import resources

_BLOCK = re.compile(r"^-- name: (\w+)\n(.*?)(?=^-- name: |\Z)", re.MULTILINE | re.DOTALL)


def _load() -> dict[str, bytes]:
    text = resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8")
    blocks = _BLOCK.findall(text)
    names = [name for name, _ in blocks]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RuntimeError(f"queries.sql names these blocks twice: {', '.join(repeated)}")
    return {name: body.strip().rstrip(";").encode() for name, body in blocks}


QUERIES = _load()
