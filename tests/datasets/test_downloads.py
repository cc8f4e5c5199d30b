"""Tests of re3_jax.datasets.downloads (walking the download layouts).

The loaders are tested further through the builders (tests/test_builders.py).
"""

from __future__ import annotations

import pytest

from re3_jax.datasets import annotations as an
from re3_jax.datasets import downloads


def test_threaded_map_keeps_order_and_raises():
  assert list(downloads.threaded_map(lambda x: x * x, range(50), workers=4, lookahead=3)) == [
      x * x for x in range(50)]

  def fail_at_7(x):
    if x == 7:
      raise an.AnnotationError('seven')
    return x

  results = []
  with pytest.raises(an.AnnotationError, match='seven'):
    for r in downloads.threaded_map(fail_at_7, range(20), workers=3):
      results.append(r)
  assert results == list(range(7))


def test_resolve_root(tmp_path):
  (tmp_path / 'ILSVRC2015/Data/VID').mkdir(parents=True)
  (tmp_path / 'ILSVRC2015/Annotations/VID').mkdir(parents=True)
  required = ['Data/VID', 'Annotations/VID']
  assert downloads.resolve_root(tmp_path, ['ILSVRC2015'], required, 'VID') == tmp_path / 'ILSVRC2015'
  assert downloads.resolve_root(tmp_path / 'ILSVRC2015', ['ILSVRC2015'], required, 'VID') == (
      tmp_path / 'ILSVRC2015')
  with pytest.raises(FileNotFoundError, match='ILSVRC2015/Data/VID'):
    downloads.resolve_root(tmp_path / 'elsewhere', ['ILSVRC2015'], required, 'ImageNet VID')
