"""What a metric family of the evaluation report is (`MetricFamily`), and the settings every
family's functions get (`Options`).

A family scores the runs of one protocol (``ope`` or ``vot``): one value per sequence
(`MetricFamily.sequence`, from the run and the true boxes), one per tracker over its
sequences (`MetricFamily.overall`), its columns of the report's text table, its part of the
progress line, its entry in ``results.json`` (under the family's name, per sequence and
overall) and, optionally, a table and plots of its own. `metric_families.FAMILIES` is the
one table of them; the report and the harness only loop over it (docs/EXTENDING.md).
"""

from __future__ import annotations

import math
import pathlib
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from re3_jax.evaluation import lost_metrics
from re3_jax.evaluation import protocols
from re3_jax.evaluation import vot_metrics


class Options(NamedTuple):
  """The run's settings that scores depend on.

  burn_in: frames after each (re)start that the reset-based accuracy leaves out.
  burn_in_at_start: whether the burn-in also follows the first start.
  score_threshold: a frame whose confidence score is below it is flagged lost.
  """
  burn_in: int = vot_metrics.VOT_BURN_IN
  burn_in_at_start: bool = True
  score_threshold: float = lost_metrics.DEFAULT_SCORE_THRESHOLD


class Column(NamedTuple):
  """A column of the report's table: its `head`, the number it shows of a family's value
  (`value`; None or NaN shows ``-``) and the number's format `spec`."""
  head: str
  value: Callable[[Any], float | int | None]
  spec: str = '.3f'


# One tracker's runs of a family's protocol: (run, true boxes, the family's per-sequence value).
Scored = tuple[protocols.Run, np.ndarray, Any]
# A family's own table: per tracker (name, [(sequence, value)], overall value).
SectionRows = list[tuple[str, list[tuple[str, Any]], Any]]


class MetricFamily(NamedTuple):
  """A family of metrics (see the module docstring).

  name: its key in ``results.json`` (per sequence and overall), in `report.Report.overall`
    and in `report.SequenceResult.metrics`.
  protocol: the runs it scores: 'ope' (one pass) or 'vot' (reset-based).
  sequence: (run, truth (T, 4) xyxy, options) -> the value of one sequence.
  overall: (the tracker's `Scored` runs, options) -> the value over its sequences.
  columns: its columns of the report's table (in `metric_families.FAMILIES` order).
  summary: value -> its part of the progress line after each sequence ('' for none).
  to_json: value -> what ``results.json`` holds (None: the value itself; NamedTuples become
    objects, arrays lists, NaN null).
  section: (`SectionRows`, options) -> a table of its own after the main one, or None.
  plot: ({tracker: (overall value, [(run, truth)])}, output folder) -> the plots it wrote.
  """
  name: str
  protocol: str
  sequence: Callable[[protocols.Run, np.ndarray, Options], Any]
  overall: Callable[[Sequence[Scored], Options], Any]
  columns: tuple[Column, ...] = ()
  summary: Callable[[Any], str] | None = None
  to_json: Callable[[Any], Any] | None = None
  section: Callable[[SectionRows, Options], str | None] | None = None
  plot: Callable[[dict[str, tuple[Any, list[tuple[protocols.Run, np.ndarray]]]], pathlib.Path],
                 list[pathlib.Path]] | None = None


def fmt(value, spec: str = '.3f') -> str:
  """`value` formatted by `spec`; ``-`` for None or NaN (the table's empty cell)."""
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return '-'
  return format(value, spec)
