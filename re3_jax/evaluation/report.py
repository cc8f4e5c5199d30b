"""Scores and reports of the evaluation harness: per-sequence results, timings, the
overall table and JSON, and the OTB success and precision plots; for trackers with a
confidence score, the lost-frame and VOT-LT measures, their table and plots
(`score_report`)."""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Iterable, NamedTuple

import numpy as np

from re3_jax.evaluation import lost_metrics
from re3_jax.evaluation import metrics
from re3_jax.evaluation import protocols
from re3_jax.evaluation import score_report
from re3_jax.evaluation import vot_metrics


@dataclasses.dataclass
class SequenceResult:
  """One tracker, one protocol, one sequence.

  Attributes:
    tracker: the tracker's name.
    protocol: 'ope' or 'vot'.
    sequence: the sequence's name.
    truth: (T, 4) the true boxes.
    run: the loop's output.
    ope: OTB metrics (OPE runs).
    got10k: GOT-10k metrics (OPE runs).
    vot: reset-based metrics (VOT runs).
    scores: the confidence-score measures (OPE runs; ``has_score`` False for a tracker
      without a score).
  """
  tracker: str
  protocol: str
  sequence: str
  truth: np.ndarray
  run: protocols.Run
  ope: metrics.OPEResult | None = None
  got10k: metrics.GOT10kResult | None = None
  vot: vot_metrics.VOTResult | None = None
  scores: score_report.Scores | None = None


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
    score_threshold: the lost flag's threshold (``score < threshold``; `lost_metrics`).
  """
  results: dict[tuple[str, str], list[SequenceResult]]
  info: dict
  failed: list[SequenceFailure] = dataclasses.field(default_factory=list)
  score_threshold: float = lost_metrics.DEFAULT_SCORE_THRESHOLD

  def scored_trackers(self) -> list[str]:
    """The trackers whose one-pass runs carry a confidence score on frames it can be measured
    on (not on a sequence whose truth is withheld): those of the score table and plots."""
    return [t for (t, p) in self.results
            if p == 'ope' and self.overall(t, p)['scores'].lost.has_score]

  def overall(self, tracker: str, protocol: str) -> dict:
    """The overall metrics and timing of one tracker under one protocol."""
    rs = self.results[(tracker, protocol)]
    out = {'sequences': len(rs), 'frames': int(sum(len(r.truth) for r in rs))}
    if protocol == 'ope':
      out['ope'] = metrics.ope_average([r.ope for r in rs])
      out['got10k'] = metrics.got10k_pooled([r.run.boxes for r in rs], [r.truth for r in rs])
      out['scores'] = score_report.pooled_scores([(r.run, r.truth) for r in rs],
                                                 self.score_threshold)
    else:
      out['vot'] = vot_metrics.vot_pooled([r.vot for r in rs])
    out['timing'] = timing(r.run for r in rs)
    return out

  def to_json(self) -> dict:
    trackers: dict = {}
    for (tracker, protocol), rs in self.results.items():
      per_seq = {}
      for r in rs:
        d = {'frames': len(r.truth), 'timing': timing([r.run]),
             'absent_frames': int(r.run.absent.sum()),
             'absent': score_report.absent_ranges(r.run.absent)}
        for key in ('ope', 'got10k', 'vot'):
          if getattr(r, key) is not None:
            d[key] = getattr(r, key)
        if r.scores is not None:
          d['scores'] = r.scores.to_json()
        per_seq[r.sequence] = d
      overall = self.overall(tracker, protocol)
      if 'scores' in overall:
        overall['scores'] = overall['scores'].to_json()
      trackers.setdefault(tracker, {})[protocol] = {'overall': overall, 'sequences': per_seq}
    return _clean({'info': self.info, 'failed': self.failed, 'trackers': trackers})

  def table(self) -> str:
    """Per-sequence and overall metrics as an aligned text table (and the failed sequences)."""
    head = ['tracker', 'protocol', 'sequence', 'frames', 'success', 'P@20', 'AO', 'SR0.5',
            'SR0.75', 'acc', 'rob', 'avg', 'fail', 'fps', 'med ms', 'init ms']
    rows = []

    def fmt(v, spec='.3f'):
      return '-' if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    def row(tracker, protocol, name, frames, ope, got, vot, tm):
      rows.append([tracker, protocol, name, str(frames),
                   fmt(ope and ope.success_score), fmt(ope and ope.precision_score),
                   fmt(got and got.ao), fmt(got and got.sr50), fmt(got and got.sr75),
                   fmt(vot and vot.accuracy), fmt(vot and vot.robustness),
                   fmt(vot and vot.average), fmt(vot and vot.failures, 'd'),
                   fmt(tm.fps, '.1f'), fmt(tm.median_update_ms, '.2f'),
                   fmt(tm.mean_init_ms, '.2f')])

    for (tracker, protocol), rs in self.results.items():
      for r in rs:
        row(tracker, protocol, r.sequence, len(r.truth), r.ope, r.got10k, r.vot,
            timing([r.run]))
      o = self.overall(tracker, protocol)
      row(tracker, protocol, f'OVERALL ({o["sequences"]})', o['frames'], o.get('ope'),
          o.get('got10k'), o.get('vot'), o['timing'])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = ['  '.join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in [head] + rows]
    score_rows = []  # when some tracker has a score; the others' rows say "no score"
    any_score = bool(self.scored_trackers())
    for (tracker, protocol), rs in self.results.items():
      if protocol == 'ope' and any_score:
        score_rows += score_report.table_rows(
            tracker, [(r.sequence, r.scores) for r in rs],
            self.overall(tracker, protocol)['scores'])
    if score_rows:
      lines += ['', score_report.table_text(score_rows, self.score_threshold)]
    if self.failed:
      lines.append(f'FAILED, not scored ({len(self.failed)} sequence(s)): '
                   + ', '.join(f.sequence for f in self.failed))
    return '\n'.join(lines)


def plot_curves(report: Report, out: pathlib.Path) -> list[pathlib.Path]:
  """``success.png`` and ``precision.png``: overall OPE curves, one per tracker; for the
  trackers with a score, ``lost_roc.png`` and ``lt_precision_recall.png`` (`score_report.plot`)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  trackers = [t for (t, p) in report.results if p == 'ope']
  if not trackers:
    return []
  paths = []
  for kind in ('success', 'precision'):
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    n_seq = 0
    for tracker in trackers:
      o = report.overall(tracker, 'ope')['ope']
      n_seq = o.sequences
      if kind == 'success':
        ax.plot(metrics.SUCCESS_THRESHOLDS, o.success_curve,
                label=f'{tracker} [{o.success_score:.3f}]')
      else:
        ax.plot(metrics.PRECISION_THRESHOLDS, o.precision_curve,
                label=f'{tracker} [{o.precision_score:.3f}]')
    if kind == 'success':
      ax.set(xlabel='overlap threshold (IoU >)', ylabel='success rate', xlim=(0, 1),
             title=f'Success plots of OPE ({n_seq} sequences)')
    else:
      ax.set(xlabel='location error threshold (pixels)', ylabel='precision', xlim=(0, 50),
             title=f'Precision plots of OPE ({n_seq} sequences)')
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower left' if kind == 'success' else 'lower right')
    fig.tight_layout()
    path = out / f'{kind}.png'
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)
  curves = {}
  for tracker in report.scored_trackers():
    rs = report.results[(tracker, 'ope')]
    o = report.overall(tracker, 'ope')['scores']
    curves[tracker] = (score_report.pooled_roc([(r.run, r.truth) for r in rs]), o.longterm,
                       o.lost)
  return paths + score_report.plot(curves, out)
