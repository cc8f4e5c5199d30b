"""`core.tables.by_name`: the rule every table by name follows."""

from typing import NamedTuple

import pytest

from re3_jax.core import tables


class _Entry(NamedTuple):
  name: str
  value: int


def test_entries_by_name_in_order():
  table = tables.by_name('things', _Entry('b', 1), _Entry('a', 2))
  assert list(table) == ['b', 'a'] and table['a'].value == 2


def test_two_entries_with_one_name_are_refused_naming_them():
  with pytest.raises(ValueError, match=r"two towers share a name: \['x', 'y', 'x'\]"):
    tables.by_name('towers', _Entry('x', 1), _Entry('y', 2), _Entry('x', 3))
