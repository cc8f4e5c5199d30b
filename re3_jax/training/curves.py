"""Training curves: ``WORKDIR/metrics.jsonl`` (written by `re3_jax.training.loop`) read back and
plotted (matplotlib, headless): the training loss, the batch mean IoU and the
validation scores against the step (a dataset's OTB success and P@20, or the
procedural clips' mean IoU, whichever the run logged). ``python -m re3_jax.plots`` is its command line.
"""

from __future__ import annotations

import json
import pathlib


def read_metrics(path: str | pathlib.Path) -> list[dict]:
  """The JSON lines of a ``metrics.jsonl``; a corrupt line raises naming file:line."""
  rows = []
  path = pathlib.Path(path)
  for n, line in enumerate(path.read_text().splitlines(), 1):
    if line.strip():
      try:
        rows.append(json.loads(line))
      except json.JSONDecodeError as e:
        raise ValueError(f'{path}:{n}: not JSON ({e})') from None
  return rows


def figure(rows: list[dict], title: str = ''):
  """The matplotlib figure of `training_curves`: loss (left), IoU and validation (right).

  Each plot's legend sits below it, outside the axes, so it covers no curve (the validation
  curves rise into any corner a legend inside could take).
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  def series(key):
    pts = [(r['step'], r[key]) for r in rows if key in r]
    return [p[0] for p in pts], [p[1] for p in pts]

  fig, (ax_loss, ax_iou) = plt.subplots(1, 2, figsize=(10, 4.6))
  ax_loss.plot(*series('l1'), label='L1 loss (crop frame)')
  ax_loss.set_xlabel('step')
  ax_loss.set_ylabel('loss')
  ax_iou.plot(*series('mean_iou'), label='training batch mean IoU')
  for key, label in (('val_mean_iou', 'validation: tracker mean IoU'),
                     ('val_success', 'validation: OTB success (tracker)'),
                     ('val_precision', 'validation: precision at 20 px (tracker)')):
    if any(key in r for r in rows):
      ax_iou.plot(*series(key), 'o-', label=label)
  ax_iou.axhline(0.5, color='grey', lw=0.8, ls='--')
  ax_iou.set_ylim(0, 1)
  ax_iou.set_xlabel('step')
  for ax in (ax_loss, ax_iou):
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.16), fontsize='small', frameon=False)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  return fig


def training_curves(rows: list[dict], out: str | pathlib.Path, title: str = '') -> pathlib.Path:
  """Loss, batch IoU and the validation scores against the step, as a PNG (`figure`)."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig = figure(rows, title)
  out = pathlib.Path(out)
  fig.savefig(out, dpi=100, bbox_inches='tight')  # the legends below the axes included
  plt.close(fig)
  return out
