"""The metric families of the evaluation report, by name: `FAMILIES`, the one table of them.

The harness scores every run with the families of its protocol (`for_protocol`), and the
report's table, ``results.json`` (per sequence and overall, under each family's name) and
plots loop over this table (`metric_family.MetricFamily` says what an entry gives). Adding a
family is a module with its metric and its `MetricFamily` (as `norm_precision`) and one
entry in `FAMILIES` (docs/EXTENDING.md). The families, in the table's column order:

* ``ope``: OTB success (AUC of the success plot) and precision (P@20), `metrics.ope`, averaged
  over sequences; ``success.png`` and ``precision.png``.
* ``got10k``: GOT-10k AO and SR at 0.5 and 0.75, `metrics.got10k`, pooled over frames.
* ``norm_precision``: LaSOT's normalised precision, `norm_precision`.
* ``losses``: the losses of the target, and those at which the target itself jumped beyond
  a window twice its size (Re3's search window), `loss_causes`.
* ``vot``: Re3's reset-based accuracy, robustness and failures, `vot_metrics.vot`.
* ``scores``: for trackers with a confidence score, lost-frame detection and the VOT-LT
  measures (`score_report`), with a table and two plots of their own.
"""

from __future__ import annotations

import pathlib

from re3_jax.core import tables
from re3_jax.evaluation import loss_causes
from re3_jax.evaluation import metrics
from re3_jax.evaluation import norm_precision
from re3_jax.evaluation import score_report
from re3_jax.evaluation import vot_metrics
from re3_jax.evaluation.metric_family import Column, MetricFamily, Options

PROTOCOLS = ('ope', 'vot', 'sre')
# The protocols whose runs are scored by another's families: SRE's runs are one-pass runs
# from shifted starts (`sre`).
SCORED_AS = {'sre': 'ope'}


# ----------------------------------------------------------------------------
# OTB success and precision.

def _plot_ope(curves, out: pathlib.Path) -> list[pathlib.Path]:
  """``success.png`` and ``precision.png``: the overall OPE curves, one per tracker."""
  if not curves:
    return []
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  paths = []
  for kind in ('success', 'precision'):
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    n_seq = 0
    for tracker, (o, _) in curves.items():
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
  return paths


OPE = MetricFamily(
    name='ope', protocol='ope',
    sequence=lambda run, truth, options: metrics.ope(run.boxes, truth),
    overall=lambda scored, options: metrics.ope_average([v for _, _, v in scored]),
    columns=(Column('success', lambda r: r.success_score),
             Column('P@20', lambda r: r.precision_score)),
    summary=lambda r: f'success {r.success_score:.3f}, P@20 {r.precision_score:.3f}',
    plot=_plot_ope)


# ----------------------------------------------------------------------------
# GOT-10k average overlap and success rates.

GOT10K = MetricFamily(
    name='got10k', protocol='ope',
    sequence=lambda run, truth, options: metrics.got10k(run.boxes, truth),
    overall=lambda scored, options: metrics.got10k_pooled([run.boxes for run, _, _ in scored],
                                                          [truth for _, truth, _ in scored]),
    columns=(Column('AO', lambda r: r.ao), Column('SR0.5', lambda r: r.sr50),
             Column('SR0.75', lambda r: r.sr75)),
    summary=lambda r: f'AO {r.ao:.3f}')


# ----------------------------------------------------------------------------
# Re3's reset-based accuracy and robustness.

VOT = MetricFamily(
    name='vot', protocol='vot',
    sequence=lambda run, truth, options: vot_metrics.vot(run.ious, run.kinds, options.burn_in,
                                                         options.burn_in_at_start),
    overall=lambda scored, options: vot_metrics.vot_pooled([v for _, _, v in scored]),
    columns=(Column('acc', lambda r: r.accuracy), Column('rob', lambda r: r.robustness),
             Column('avg', lambda r: r.average), Column('fail', lambda r: r.failures, 'd')),
    summary=lambda r: (f'accuracy {r.accuracy:.3f}, robustness {r.robustness:.3f}, '
                       f'{r.failures} failures'))


# ----------------------------------------------------------------------------
# Confidence scores: lost-frame detection and the VOT-LT measures.

def _scores_summary(s: score_report.Scores) -> str:
  if not s.lost.has_score:
    return ''
  return (f'lost AUC {s.lost.auc:.3f}, LT F {s.longterm.f_score:.3f} '
          f'({s.lost.lost} lost frames, {s.lost.absent} absent)')


def _scores_section(rows, options: Options) -> str | None:
  """The score table, when some tracker has a score (the others' rows say "no score")."""
  if not any(overall.lost.has_score for _, _, overall in rows):
    return None
  table = []
  for tracker, per_seq, overall in rows:
    table += score_report.table_rows(tracker, per_seq, overall)
  return score_report.table_text(table, options.score_threshold)


def _scores_plot(runs, out: pathlib.Path) -> list[pathlib.Path]:
  curves = {tracker: (score_report.pooled_roc(pairs), o.longterm, o.lost)
            for tracker, (o, pairs) in runs.items() if o.lost.has_score}
  return score_report.plot(curves, out)


SCORES = MetricFamily(
    name='scores', protocol='ope',
    sequence=lambda run, truth, options: score_report.sequence_scores(run, truth,
                                                                      options.score_threshold),
    overall=lambda scored, options: score_report.pooled_scores(
        [(run, truth) for run, truth, _ in scored], options.score_threshold),
    summary=_scores_summary, to_json=lambda s: s.to_json(), section=_scores_section,
    plot=_scores_plot)


# ----------------------------------------------------------------------------
# The table.

def _table(*entries: MetricFamily) -> dict[str, MetricFamily]:
  table = tables.by_name('metric families', *entries)
  for f in entries:
    if f.protocol not in PROTOCOLS or f.protocol in SCORED_AS:
      raise ValueError(f'metric family {f.name}: protocol {f.protocol!r} is not one of '
                       f'{[p for p in PROTOCOLS if p not in SCORED_AS]}')
  return table


FAMILIES = _table(
    OPE,
    GOT10K,
    norm_precision.FAMILY,
    loss_causes.FAMILY,
    VOT,
    SCORES,
)


def for_protocol(protocol: str) -> list[MetricFamily]:
  """The families that score `protocol`'s runs, in table order (SRE's: one-pass's)."""
  protocol = SCORED_AS.get(protocol, protocol)
  return [f for f in FAMILIES.values() if f.protocol == protocol]


def json_value(family: MetricFamily, value):
  """What ``results.json`` holds of `family`'s `value`."""
  return value if family.to_json is None else family.to_json(value)

