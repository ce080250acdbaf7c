"""The signal registry: every signal a model can name, and the family that provides it.

Families (one module each under grader/signals/) register their signals when their module is
imported, with the function that computes their columns for a group of answers sharing a question
(`context.Group`); `features` imports every family and assembles the matrix. Signals of the
feature matrix (`register`) have a fixed slot: `FEATURES` is their names ordered by slot, an order
that the bundled model's file and the golden file rely on, so a new signal takes a new slot at the
end of its kind and never moves another. Extra signals (`register_extra`: the cohort's and the
answer memory's) come after FEATURES, only in models calibrated with them. Models select their
columns by name (`features.select`), so adding a signal does not invalidate a model that does not use it."""

from __future__ import annotations

_SLOTS: dict[str, tuple[int, str]] = {}    # matrix signal -> (slot, family)
_EXTRA: dict[str, str] = {}                # extra signal -> family
_COLUMNS: dict[str, object] = {}           # family -> its function Group -> {signal: column}


def register(family: str, slots: dict[str, int], columns=None) -> tuple[str, ...]:
    """Register a family's matrix signals at their slots, and `columns` (a function of a
    `context.Group` returning {signal: column} for these signals) when the family is computed
    per group; returns their names in slot order."""
    taken = {slot: name for name, (slot, _) in _SLOTS.items()}
    for name, slot in slots.items():
        if name in _SLOTS or name in _EXTRA:
            if _SLOTS.get(name) == (slot, family):
                continue   # the same module imported twice under another name
            raise ValueError(f"signal {name!r} is registered twice")
        if slot in taken:
            raise ValueError(f"slot {slot} of {name!r} is taken by {taken[slot]!r}")
        _SLOTS[name] = (slot, family)
    if columns is not None:
        _COLUMNS[family] = columns
    return tuple(sorted(slots, key=slots.get))


def register_extra(family: str, names: tuple[str, ...]) -> tuple[str, ...]:
    for name in names:
        if name in _SLOTS or _EXTRA.get(name, family) != family:
            raise ValueError(f"signal {name!r} is registered twice")
        _EXTRA[name] = family
    return tuple(names)


def matrix_signals() -> tuple[str, ...]:
    """Every matrix signal, in slot order; slots must run 0, 1, 2, ... without a gap."""
    ordered = sorted(_SLOTS, key=lambda n: _SLOTS[n][0])
    if [_SLOTS[n][0] for n in ordered] != list(range(len(ordered))):
        raise ValueError("signal slots have a gap: " + ", ".join(f"{n}={_SLOTS[n][0]}" for n in ordered))
    return tuple(ordered)


def group_columns() -> dict:
    """The per-group column functions of the families registered with one, by family."""
    return dict(_COLUMNS)


def extra_signals() -> tuple[str, ...]:
    return tuple(_EXTRA)


def family_of(name: str) -> str | None:
    if name in _SLOTS:
        return _SLOTS[name][1]
    return _EXTRA.get(name)
