"""What a command answers: the data printed with --json, and the text printed otherwise."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Result:
    data: dict[str, object]
    text: str
