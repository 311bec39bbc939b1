"""How a user's name for a game or a net is matched: any case, with '_', '-' and spaces
ignored (`road_runner`, `Road Runner` and `roadrunner` are `RoadRunner`)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def name_key(name) -> str:
    """What names are compared by."""
    return "".join(c for c in str(name).strip().lower() if c not in "_- ")


def match_name(name, names: Iterable[str], closest: int = 4) -> tuple[str | None, list[str]]:
    """(the one of `names` that `name` means, or None; up to `closest` names near it when
    none matches, for a 'did you mean' hint)."""
    by_key = {name_key(n): n for n in names}
    key = name_key(name)
    if key in by_key:
        return by_key[key], []
    near = difflib.get_close_matches(key, list(by_key), n=closest, cutoff=0.6)
    return None, [by_key[k] for k in near]
