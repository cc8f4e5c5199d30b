"""The confidence-score part of the evaluation report: lost-frame detection
(`lost_metrics`) and the VOT-LT measures (`longterm_metrics`) of one-pass runs, per sequence
and pooled, the absent frames, their table and the two plots (``lost_roc.png``,
``lt_precision_recall.png``). `report` puts them into ``results.json`` and the text table.

Scored frames: the frames a tracker updated in a one-pass run (`protocols.Run.kinds`), in a
sequence whose truth is not withheld (`lost_metrics.truth_withheld`). A tracker without a
score gets ``has_score=False`` everywhere: its table line says "no score".
"""

from __future__ import annotations

import math
import pathlib
from typing import NamedTuple, Sequence

import numpy as np

from re3_jax.evaluation import longterm_metrics
from re3_jax.evaluation import lost_metrics
from re3_jax.evaluation import protocols
from re3_jax.evaluation import vot_metrics

ROC_PLOT = 'lost_roc.png'
PR_PLOT = 'lt_precision_recall.png'


class ScoreFrames(NamedTuple):
  """One run's frames for both measures (None where the truth is withheld)."""
  lost: lost_metrics.ScoredFrames | None
  longterm: longterm_metrics.LongTermFrames | None


def run_frames(run: protocols.Run, truth) -> ScoreFrames:
  """The scored frames of a one-pass `run` on a sequence with true boxes `truth`."""
  if lost_metrics.truth_withheld(truth):
    return ScoreFrames(None, None)
  tracked = run.kinds == vot_metrics.FrameKind.TRACKED
  return ScoreFrames(lost_metrics.scored_frames(run.ious, run.absent, run.scores, tracked),
                     longterm_metrics.longterm_frames(run.ious, run.absent, run.scores, tracked))


class Scores(NamedTuple):
  """The score measures of one sequence or a dataset.

  Attributes:
    lost: lost-frame detection (`lost_metrics.LostResult`).
    longterm: the VOT-LT measures (`longterm_metrics.LongTermResult`).
  """
  lost: lost_metrics.LostResult
  longterm: longterm_metrics.LongTermResult

  def to_json(self) -> dict:
    """Scalars only (the curves are in the plots): NaN stays NaN for the caller to clean."""
    lt = self.longterm
    return {'has_score': self.lost.has_score, 'lost': self.lost._asdict(),
            'longterm': {'has_score': lt.has_score, 'f_score': lt.f_score,
                         'precision': lt.precision, 'recall': lt.recall,
                         'threshold': lt.threshold, 'frames': lt.frames,
                         'sequences': lt.sequences}}


def sequence_scores(run: protocols.Run, truth, threshold: float) -> Scores:
  """One one-pass run's `Scores`; `threshold` is the lost flag's (``score < threshold``)."""
  frames = run_frames(run, truth)
  return Scores(lost_metrics.lost_detection(frames.lost, threshold),
                longterm_metrics.longterm(frames.longterm))


def pooled_scores(runs: Sequence[tuple[protocols.Run, np.ndarray]], threshold: float) -> Scores:
  """A dataset's `Scores` from its one-pass (run, truth) pairs: lost frames pooled, the
  long-term curves averaged over sequences."""
  frames = [run_frames(run, truth) for run, truth in runs]
  return Scores(lost_metrics.lost_detection_pooled([f.lost for f in frames], threshold),
                longterm_metrics.longterm_average([f.longterm for f in frames
                                                   if f.longterm is not None]))


def pooled_roc(runs: Sequence[tuple[protocols.Run, np.ndarray]]) -> lost_metrics.RocCurve | None:
  """The lost-frame ROC curve over a dataset's one-pass runs (None without a score)."""
  return lost_metrics.roc_curve_pooled([run_frames(run, truth).lost for run, truth in runs])


def absent_ranges(absent) -> list[list[int]]:
  """The runs of True in `absent` as ``[first, last]`` frame indices (0-based, inclusive)."""
  absent = np.asarray(absent, bool).astype(np.int8)
  edges = np.diff(np.concatenate([[0], absent, [0]]))
  starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
  return [[int(a), int(b)] for a, b in zip(starts, ends)]


def _fmt(v, spec: str = '.3f') -> str:
  if v is None or (isinstance(v, float) and math.isnan(v)):
    return '-'
  return format(v, spec)


def table_rows(tracker: str, rows: Sequence[tuple[str, Scores]], overall: Scores) -> list[list[str]]:
  """A tracker's rows of the score table (`HEAD`): one per sequence and ``OVERALL``; a
  tracker without a score gets one row saying so."""
  if not overall.lost.has_score:
    o = overall.lost
    return [[tracker, f'no score (OVERALL ({o.sequences}))', str(o.frames), str(o.absent),
             str(o.lost)] + ['-'] * 7]
  out = []
  for name, s in list(rows) + [(f'OVERALL ({overall.lost.sequences})', overall)]:
    lo, lt = s.lost, s.longterm
    out.append([tracker, name, str(lo.frames), str(lo.absent), str(lo.lost), _fmt(lo.auc),
                _fmt(lo.precision), _fmt(lo.recall), _fmt(lt.f_score), _fmt(lt.precision),
                _fmt(lt.recall), _fmt(lt.threshold, '.4g')])
  return out


HEAD = ['tracker', 'sequence', 'frames', 'absent', 'lost', 'lost AUC', 'P(lost)', 'R(lost)',
        'LT F', 'LT Pr', 'LT Re', 'LT tau']


def table_text(rows: list[list[str]], threshold: float) -> str:
  """The score table: a title line (what lost means, the threshold), then aligned rows."""
  widths = [max(len(x) for x in col) for col in zip(HEAD, *rows)]
  lines = ['  '.join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in [HEAD] + rows]
  title = (f'Confidence scores (one-pass runs): lost = target absent or IoU < '
           f'{lost_metrics.LOST_IOU:g}; P/R(lost) of the flag score < {threshold:g}; '
           'LT = VOT-LT tracking F-score, precision and recall at the best threshold tau')
  return '\n'.join([title] + lines)


def _save(plt, fig, ax, path: pathlib.Path, legend: str) -> pathlib.Path:
  ax.grid(alpha=0.3)
  ax.legend(loc=legend)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot(curves: dict[str, tuple[lost_metrics.RocCurve, longterm_metrics.LongTermResult,
                                 lost_metrics.LostResult]],
         out: pathlib.Path) -> list[pathlib.Path]:
  """``lost_roc.png`` (ROC of the lost flag, pooled frames) and ``lt_precision_recall.png``
  (VOT-LT Pr against Re over tau, the best F marked), one curve per tracker with a score;
  nothing when no tracker has one."""
  if not curves:
    return []
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5.5, 4.2))
  for tracker, (roc, _, lost) in curves.items():
    ax.plot(roc.false_positive_rate, roc.true_positive_rate,
            label=f'{tracker} [AUC {_fmt(lost.auc)}]')
  ax.plot([0, 1], [0, 1], color='0.6', lw=0.8, ls='--')
  lost = next(iter(curves.values()))[2]
  ax.set(xlabel='frames not lost flagged (false-positive rate)',
         ylabel='lost frames flagged (true-positive rate)', xlim=(0, 1), ylim=(0, 1.02),
         title=f'Lost frames by low score ({lost.sequences} sequences, {lost.frames} frames)')
  paths = [_save(plt, fig, ax, out / ROC_PLOT, 'lower right')]
  fig, ax = plt.subplots(figsize=(5.5, 4.2))
  for tracker, (_, lt, _) in curves.items():
    line, = ax.plot(lt.recall_curve, lt.precision_curve, label=f'{tracker} [F {_fmt(lt.f_score)}]')
    if not math.isnan(lt.f_score):
      ax.plot([lt.recall], [lt.precision], 'o', color=line.get_color())
  ax.set(xlabel='tracking recall Re(tau)', ylabel='tracking precision Pr(tau)', xlim=(0, 1),
         ylim=(0, 1.02), title=f'VOT-LT precision/recall over tau ({lt.sequences} sequences)')
  return paths + [_save(plt, fig, ax, out / PR_PLOT, 'lower left')]
