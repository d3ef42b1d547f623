"""Named SQL blocks from queries.sql (`-- name: <block>` starts each)."""

import re
from importlib import resources

_BLOCK = re.compile(r"^-- name: (\w+)\n(.*?)(?=^-- name: |\Z)", re.MULTILINE | re.DOTALL)


def _load() -> dict[str, bytes]:
    text = resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8")
    return {name: body.strip().rstrip(";").encode() for name, body in _BLOCK.findall(text)}


QUERIES = _load()
