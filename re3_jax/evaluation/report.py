"""The evaluation report: per-sequence results, timings, the overall table and JSON and the
plots, each over the metric families of `metric_families.FAMILIES` (OTB success and
precision, GOT-10k AO/SR, LaSOT's normalised precision, the reset-based VOT measures and,
for trackers with a confidence score, the lost-frame and VOT-LT measures)."""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Any, Iterable, NamedTuple

import numpy as np

from re3_jax.evaluation import metric_families
from re3_jax.evaluation import protocols
from re3_jax.evaluation import score_report
from re3_jax.evaluation.metric_family import MetricFamily, Options, fmt


@dataclasses.dataclass
class SequenceResult:
  """One tracker, one protocol, one sequence.

  Attributes:
    tracker: the tracker's name.
    protocol: 'ope', 'vot' or 'sre'.
    sequence: the sequence's name.
    truth: (T, 4) the true boxes.
    run: the loop's output.
    metrics: family name -> the family's value for this run (`metric_families.for_protocol`);
      ``result.NAME`` reads it too (``result.ope``, ``result.got10k``, ``result.vot``,
      ``result.scores``, ...: None for a family of the other protocol).
    start: SRE's start (one of `sre.SHIFTS`); None for the other protocols.
  """
  tracker: str
  protocol: str
  sequence: str
  truth: np.ndarray
  run: protocols.Run
  metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
  start: str | None = None

  @property
  def label(self) -> str:
    """The sequence's name, and SRE's start after it (``car1 scale_8``): the run's name in
    the table and ``results.json``."""
    return self.sequence if self.start is None else f'{self.sequence} {self.start}'

  def __getattr__(self, name: str):
    if name in metric_families.FAMILIES:
      return self.__dict__.get('metrics', {}).get(name)
    raise AttributeError(f'{type(self).__name__!r} object has no attribute {name!r}')

  def value(self, family: MetricFamily, options: Options):
    """`family`'s value for this run, computed once (results made without it get it here)."""
    if family.name not in self.metrics:
      self.metrics[family.name] = family.sequence(self.run, self.truth, options)
    return self.metrics[family.name]


def score(run: protocols.Run, truth, protocol: str, options: Options) -> dict[str, Any]:
  """Every family of `protocol` on one run: family name -> value."""
  return {f.name: f.sequence(run, truth, options)
          for f in metric_families.for_protocol(protocol)}


class SequenceFailure(NamedTuple):
  """A sequence the harness could not evaluate (left out of every score).

  Attributes:
    sequence: the sequence's name.
    file: its ground-truth file (else its frames' folder).
    message: what went wrong (and with which tracker and protocol, if it was
      tracking).
  """
  sequence: str
  file: str
  message: str

  def __str__(self) -> str:
    return f'sequence {self.sequence} ({self.file}): {self.message}'


class Timing(NamedTuple):
  """Speed of a tracker over some runs (update calls only; init separately).

  Attributes:
    fps: updates per second of update time.
    median_update_ms: the median update call.
    mean_init_ms: the mean init call.
    updates: update calls timed.
  """
  fps: float
  median_update_ms: float
  mean_init_ms: float
  updates: int


def timing(runs: Iterable[protocols.Run]) -> Timing:
  runs = list(runs)
  updates = np.concatenate([r.update_times for r in runs]) if runs else np.zeros(0)
  inits = np.concatenate([r.init_times for r in runs]) if runs else np.zeros(0)
  total = float(updates.sum())
  return Timing(len(updates) / total if total > 0 else math.nan,
                float(np.median(updates)) * 1e3 if len(updates) else math.nan,
                float(np.mean(inits)) * 1e3 if len(inits) else math.nan, len(updates))


def _clean(x):
  """JSON-ready: NaN/inf -> None, arrays -> lists, NamedTuples -> dicts."""
  if isinstance(x, dict):
    return {k: _clean(v) for k, v in x.items()}
  if hasattr(x, '_asdict'):
    return _clean(x._asdict())
  if isinstance(x, (list, tuple, np.ndarray)):
    return [_clean(v) for v in (x.tolist() if isinstance(x, np.ndarray) else x)]
  if isinstance(x, (float, np.floating)):
    return float(x) if math.isfinite(x) else None
  if isinstance(x, np.integer):
    return int(x)
  return x


@dataclasses.dataclass
class Report:
  """Everything one `run` measured.

  Attributes:
    results: (tracker, protocol) -> per-sequence results, in sequence order.
    info: the run's settings (datasets, trackers' descriptions, machine, date).
    failed: the sequences that could not be evaluated (in no result; the
      overall scores are over the others).
    options: the settings the scores depend on (`metric_family.Options`).
    plots: the plot files written (`plot_curves`), by name.
  """
  results: dict[tuple[str, str], list[SequenceResult]]
  info: dict
  failed: list[SequenceFailure] = dataclasses.field(default_factory=list)
  options: Options = Options()
  plots: list[str] = dataclasses.field(default_factory=list)

  @property
  def score_threshold(self) -> float:
    """The lost flag's threshold (``score < threshold``; `lost_metrics`)."""
    return self.options.score_threshold

  def overall(self, tracker: str, protocol: str) -> dict:
    """The overall value of every family of `protocol`, by name, and the timing."""
    rs = self.results[(tracker, protocol)]
    out = {'sequences': len({r.sequence for r in rs}), 'runs': len(rs),
           'frames': int(sum(len(r.truth) for r in rs))}
    for f in metric_families.for_protocol(protocol):
      out[f.name] = f.overall([(r.run, r.truth, r.value(f, self.options)) for r in rs],
                              self.options)
    out['timing'] = timing(r.run for r in rs)
    return out

  def to_json(self) -> dict:
    trackers: dict = {}
    for (tracker, protocol), rs in self.results.items():
      families = metric_families.for_protocol(protocol)
      per_seq = {}
      for r in rs:
        d = {'frames': len(r.truth), 'timing': timing([r.run]),
             'absent_frames': int(r.run.absent.sum()),
             'absent': score_report.absent_ranges(r.run.absent)}
        for f in families:
          d[f.name] = metric_families.json_value(f, r.value(f, self.options))
        per_seq[r.label] = d
      overall = self.overall(tracker, protocol)
      for f in families:
        overall[f.name] = metric_families.json_value(f, overall[f.name])
      trackers.setdefault(tracker, {})[protocol] = {'overall': overall, 'sequences': per_seq}
    return _clean({'info': self.info, 'failed': self.failed, 'trackers': trackers})

  def table(self) -> str:
    """Per-sequence and overall metrics as an aligned text table (every family's columns),
    the families' own tables, and the failed sequences."""
    columns = [(f, c) for f in metric_families.FAMILIES.values() for c in f.columns]
    head = (['tracker', 'protocol', 'sequence', 'frames'] + [c.head for _, c in columns]
            + ['fps', 'med ms', 'init ms'])
    rows = []

    def row(tracker, protocol, name, frames, values, tm):
      cells = [fmt(None) if f.name not in values else fmt(c.value(values[f.name]), c.spec)
               for f, c in columns]
      rows.append([tracker, protocol, name, str(frames)] + cells
                  + [fmt(tm.fps, '.1f'), fmt(tm.median_update_ms, '.2f'),
                     fmt(tm.mean_init_ms, '.2f')])

    for (tracker, protocol), rs in self.results.items():
      families = metric_families.for_protocol(protocol)
      for r in rs:
        row(tracker, protocol, r.label, len(r.truth),
            {f.name: r.value(f, self.options) for f in families}, timing([r.run]))
      o = self.overall(tracker, protocol)
      runs = '' if o['runs'] == o['sequences'] else f', {o["runs"]} runs'
      row(tracker, protocol, f'OVERALL ({o["sequences"]}{runs})', o['frames'], o, o['timing'])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = ['  '.join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in [head] + rows]
    for f in metric_families.FAMILIES.values():
      if f.section is None:
        continue
      section_rows = [(tracker, [(r.label, r.value(f, self.options)) for r in rs],
                       self.overall(tracker, protocol)[f.name])
                      for (tracker, protocol), rs in self.results.items()
                      if protocol == f.protocol]
      text = f.section(section_rows, self.options) if section_rows else None
      if text:
        lines += ['', text]
    if self.failed:
      lines.append(f'FAILED, not scored ({len(self.failed)} sequence(s)): '
                   + ', '.join(f.sequence for f in self.failed))
    return '\n'.join(lines)


def plot_curves(report: Report, out: pathlib.Path) -> list[pathlib.Path]:
  """Every family's plots (`MetricFamily.plot`) of the trackers that ran its protocol:
  ``success.png`` and ``precision.png`` of the OPE curves; for the trackers with a score,
  ``lost_roc.png`` and ``lt_precision_recall.png``. Their names go to ``report.plots``."""
  paths = []
  for f in metric_families.FAMILIES.values():
    if f.plot is None:
      continue
    runs = {tracker: (report.overall(tracker, protocol)[f.name],
                      [(r.run, r.truth) for r in rs])
            for (tracker, protocol), rs in report.results.items() if protocol == f.protocol}
    if runs:
      paths += f.plot(runs, out)
  report.plots = [p.name for p in paths]
  return paths
