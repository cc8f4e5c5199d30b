"""The package's tables by name (towers, harness trackers, metric families, dataset layouts):
one rule for building them, so an entry is found by its ``name`` and two entries never
share one (docs/EXTENDING.md)."""

from __future__ import annotations

from typing import TypeVar

Entry = TypeVar('Entry')


def by_name(what: str, *entries: Entry) -> dict[str, Entry]:
  """``{entry.name: entry}`` in the entries' order; ValueError naming the `what` (e.g.
  'layouts') and every name where two entries share a name."""
  table = {entry.name: entry for entry in entries}
  if len(table) != len(entries):
    raise ValueError(f'two {what} share a name: {[entry.name for entry in entries]}')
  return table
