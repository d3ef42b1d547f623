"""Identifiers: fleet, vehicle and credential ids share one grammar (DESIGN 2)."""

import re

IDENTIFIER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def is_identifier(value: object) -> bool:
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None
