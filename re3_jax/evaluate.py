r"""Evaluates trackers on OTB, VOT, GOT-10k or ImageNet VID sequences, all in one harness.

  python -m re3_jax.evaluate --dataset=otb:ROOT \
      --tracker=re3 --tracker=opencv_csrt --protocol=ope,vot --out=DIR

Trackers (the names of `re3_jax.evaluation.trackers.TRACKERS`): ``re3``
(`re3_jax.tracking.tracker.Re3Tracker` as the ``--tracker.*`` flags of
`re3_jax.tracking.tracker_config.TrackerConfig` say: the model shipped with the package,
`shipped.PRETRAINED`, or ``--tracker.checkpoint=DIR``; ``--tracker.random_model=NAME`` gives
random weights instead, with a warning: they do not track, the numbers only exercise the
harness), a shipped model by its name (``--tracker=re3_squeeze``), and the OpenCV baselines of
`re3_jax.evaluation.baselines` (``opencv_csrt``, ``opencv_kcf``, ``opencv_mil``, and NanoTrack
v2 ``opencv_nano``, whose models
come from ``--nanotrack_dir=DIR``: ``backbone.onnx`` and ``head.onnx``, checked
by SHA-256, never downloaded). All run through the same two-method interface
(`Tracker`) and the same loops:

* ``ope`` (one-pass evaluation): start at the first frame's true box, track to
  the end. Scored with OTB success/precision and GOT-10k AO/SR (`re3_jax.evaluation.metrics`)
  and LaSOT's normalised precision (`re3_jax.evaluation.norm_precision`): the metric families
  of `re3_jax.evaluation.metric_families.FAMILIES`, each a column group of the table and an
  entry of ``results.json``.
* ``vot`` (reset-based, Re3's evaluation script, `run_vot`): after a failure
  (IoU 0) skip 5 frames and restart from the true box; accuracy leaves out
  the 10 frames after each (re)start; robustness ``exp(-30 failures/frames)``.
* ``sre`` (OTB's spatial robustness evaluation, `re3_jax.evaluation.sre`): 12 one-pass runs
  per sequence, from the first true box moved by 10% of its size (4), grown by 10% at a
  corner (4) and scaled by 0.8, 0.9, 1.1 and 1.2, as OTB's toolkit makes them; scored as
  one-pass runs and averaged over every run (the table's and ``results.json``'s rows are
  ``NAME START``). A one-pass score that hangs on a coin flip (a neighbour taking the box or
  not) counts here in proportion to how often it happens: ``--protocol=ope,sre`` to rank two
  models whose one-pass scores are close.

Speed is measured the same way for every tracker: the wall time of its
``update`` calls only (frames are decoded before the clock starts), the first
frame's ``init`` timed separately. Before each sequence every tracker gets one
untimed warm-up (init on frame 0, update on frame 1), so JAX compilation and
lazy allocations are not timed. Reported: frames/s = updates / total update
time, the median update time, and the mean init time.

A line on stdout per tracker, protocol and sequence done; while one is tracked, stderr
counts its frames with an ETA (rewritten in place on a terminal, a line every 30 s in a
log; ``--noprogress``: none).

Outputs in ``--out``:

* ``results.json``: per tracker and protocol, per-sequence and overall metrics
  and timings (NaN written as null), plus the run's settings. Of this run's trackers
  only: an earlier run's ``results.json`` in the same ``--out`` is replaced, with a
  warning naming it and its trackers (their result files stay); evaluate every tracker
  in one run to compare them in one file.
* ``TRACKER/otb/NAME.txt``: the OPE boxes, one ``x,y,w,h`` line per frame
  (OTB's 1-based convention, 3 decimals).
* ``TRACKER/sre/START/NAME.txt`` (and ``NAME_scores.txt``): the SRE runs, as the OPE ones.
* ``TRACKER/got10k/NAME/NAME_001.txt`` (the same boxes) and
  ``NAME_time.txt`` (seconds per frame: the init, then each update), GOT-10k's
  result layout.
* ``TRACKER/vot/NAME/NAME_001.txt`` and ``NAME_time.txt``: the reset-based run
  in the VOT toolkit's codes: ``1`` a (re)start, ``2`` a failure, ``0`` a
  skipped frame, else the box (``x,y,w,h``).
* ``TRACKER/otb/NAME_scores.txt`` (and ``TRACKER/vot/NAME/NAME_scores.txt``), for a tracker
  that gives a confidence score with each box (`protocols.Scored`: NanoTrack's
  ``getTrackingScore()``; CSRT, KCF and MIL their ``ok`` flag as 1 or 0): one score per
  frame, ``nan`` at the start frame.
* ``success.png`` and ``precision.png``: the overall OPE curves, one per tracker (not SRE's).
* ``lost_roc.png`` and ``lt_precision_recall.png``, when a tracker gives a score: the ROC
  curve of "low score = lost" over the frames where the target is absent or the box's IoU
  is below 0.1 (`lost_metrics`), and the VOT-LT tracking precision against recall over the
  score threshold tau (`longterm_metrics`), one curve per tracker with a score.

Confidence scores and absent frames: every frame without a true box (a ``NaN`` row in an
OTB-layout or UAV123 file, a GOT-10k or LaSOT absence label) is an absent frame; the
trackers track through it, OTB and GOT-10k scores leave it out, and ``results.json`` lists
each sequence's (``absent_frames``, ``absent``: [first, last] ranges). For a tracker with a
score, the table and ``results.json`` add per sequence and overall: the lost-frame ROC AUC,
the precision and recall of the flag "score < ``--score_threshold``", and the VOT-LT
F-score with its precision, recall and threshold; a tracker without one says "no score".
* with ``--video``: ``videos/NAME.mp4`` (GIF if OpenCV cannot write mp4), the
  true box (green) and each tracker's OPE box.
* with ``--submission=FILE.zip`` (one ``got10k`` dataset, e.g. the test split,
  one tracker, ``--protocol=ope``, every frame of every sequence): the archive
  the GOT-10k evaluation server takes, exactly as the got10k toolkit's
  ``ExperimentGOT10k`` zips its results (`re3_jax.evaluation.submission`).
  Written (atomically) only when every sequence was tracked::

    python -m re3_jax.evaluate --dataset=got10k:GOT-10k/test --tracker=re3 \
        --out=DIR --submission=re3_got10k_test.zip

A sequence that cannot be evaluated (a missing or unreadable frame, a first
true box outside its image, a tracker's error on it) is reported in one line
naming it and its ground-truth file, and left out: the other sequences are
scored, the overall numbers are over them, and ``results.json`` lists the
failed ones (``failed``: sequence, file, message). The exit status is then 1
(after writing the results); ``--fail_fast`` stops at the first failure
instead. Status 0: every sequence was scored.

Metrics are computed from the boxes as written (rounded to 3 decimals), so
reading the result files back gives the JSON's numbers exactly. Sequence names
with ``/`` (VID tracks) use ``.`` in file names.
"""


from __future__ import annotations

import pathlib
import sys

from absl import flags

from re3_jax import cli
from re3_jax.core import progress
from re3_jax.datasets import dataset_roots
from re3_jax.datasets import layouts
from re3_jax.evaluation import harness
from re3_jax.evaluation import lost_metrics
from re3_jax.evaluation import submission
from re3_jax.evaluation import trackers

_DATASET = flags.DEFINE_multi_string(
    'dataset', None, f'KIND:ROOT with KIND one of {", ".join(layouts.KINDS)} (repeatable).',
    required=True)
_TRACKER = flags.DEFINE_multi_enum(
    'tracker', ['re3'], tuple(trackers.TRACKERS), 'Trackers to run (repeatable): '
    + '; '.join(f'{e.name}: {e.about}' for e in trackers.TRACKERS.values()) + '.')
_PROTOCOL = flags.DEFINE_list(
    'protocol', ['ope'], "Any of ope (one pass), vot (reset-based) and sre (one pass from 12 "
    "shifted and scaled starts, OTB's SRE), e.g. ope,sre.")
_OUT = flags.DEFINE_string('out', None, 'Output folder.', required=True)
_RE3 = cli.define_tracker_flags()  # --tracker.*: Re3's weights and settings
_NANOTRACK_DIR = flags.DEFINE_string(
    'nanotrack_dir', None, 'opencv_nano: folder with NanoTrack v2 backbone.onnx and head.onnx '
    '(HonglinChu/SiamTrackers, NanoTrack/models/nanotrackv2/; checked by SHA-256).')
_MAX_FRAMES = flags.DEFINE_integer('max_frames', None,
                                   'Track only the first frames of each sequence.')
_SEQUENCES = flags.DEFINE_list('sequences', None, 'Only these sequences (names; a multi-target '
                               'OTB name or a VID video selects all its targets).')
_VIDEO = flags.DEFINE_bool('video', False, 'Also write videos/NAME.mp4 per sequence.')
_FAIL_FAST = flags.DEFINE_bool(
    'fail_fast', False, 'Stop at the first sequence that cannot be evaluated (default: report '
    'it, go on with the others, exit with status 1 at the end).')
_SUBMISSION = flags.DEFINE_string(
    'submission', None, 'Also write the GOT-10k evaluation server submission archive FILE.zip '
    '(one --dataset=got10k:ROOT, one --tracker, --protocol=ope).')
_PROGRESS = flags.DEFINE_bool(
    'progress', True, "Count the frames of the sequence being tracked, with an ETA, on stderr "
    '(on a terminal in place; elsewhere a line every 30 s).')
_SCORE_THRESHOLD = flags.DEFINE_float(
    'score_threshold', lost_metrics.DEFAULT_SCORE_THRESHOLD,
    'Trackers with a confidence score: a frame scoring below this is flagged lost; the '
    "precision and recall of that flag are reported (the AUC and VOT-LT F-score do not "
    'depend on it).')
_VOT_BURN_IN_AT_START = flags.DEFINE_bool(
    'vot_burn_in_at_start', True,
    "Reset-based protocol: leave out the burn-in after the first start too (Re3's original "
    'script did not).')


def _check_submission() -> pathlib.Path | None:
  """``--submission``'s path, after checking the flags it needs (before anything is read)."""
  if _SUBMISSION.value is None:
    return None
  kinds = [layouts.parse_spec(spec)[0] for spec in _DATASET.value]
  if kinds != ['got10k']:
    raise ValueError('--submission needs exactly one --dataset=got10k:ROOT (the GOT-10k server '
                     f'scores GOT-10k results), got --dataset={" --dataset=".join(_DATASET.value)}')
  names = list(dict.fromkeys(_TRACKER.value))
  if len(names) != 1:
    raise ValueError(f'--submission takes one --tracker, got {", ".join(names)}')
  if _PROTOCOL.value != ['ope']:
    raise ValueError('--submission needs --protocol=ope (the GOT-10k server scores one-pass runs), '
                     f'got --protocol={",".join(_PROTOCOL.value)}')
  if _MAX_FRAMES.value is not None:
    raise ValueError('--submission needs every frame (a box per frame of each sequence): drop '
                     '--max_frames')
  if _SEQUENCES.value:
    raise ValueError('--submission needs every sequence of the split: drop --sequences')
  return submission.check_path(_SUBMISSION.value, made=_OUT.value)  # --out is made by the run


def main(argv):
  del argv
  archive = _check_submission()
  # The sequences first: a bad dataset or name fails before the trackers' set-up.
  seqs = []
  for spec in _DATASET.value:  # a layout that can reads only the selected sequences (VID)
    seqs.extend(layouts.read(spec, _SEQUENCES.value).sequences)
  if _SEQUENCES.value:
    seqs = list(dataset_roots.select(seqs, _SEQUENCES.value, ' + '.join(_DATASET.value)))
  names = [s.name for s in seqs]
  if len(set(names)) != len(names):
    raise ValueError(f'sequence names repeat across datasets: {names}')
  to_run, described = {}, []
  options = trackers.Options(_RE3(), _NANOTRACK_DIR.value)
  for name in dict.fromkeys(_TRACKER.value):
    m = trackers.make(name, options)
    to_run[name] = m.tracker
    described.append(m.description)
    if m.warning:  # e.g. random weights, not the shipped model
      print(f'WARNING: {m.warning}', file=sys.stderr)
  # Frames of the sequence being tracked, with an ETA: rewritten in place on a terminal,
  # a line every 30 s in a log.
  status = progress.StatusLine(interval=0.5, file_interval=30.0) if _PROGRESS.value else None
  try:
    report = harness.run(to_run, seqs, _OUT.value, protocols=_PROTOCOL.value,
                         max_frames=_MAX_FRAMES.value, video=_VIDEO.value,
                         burn_in_at_start=_VOT_BURN_IN_AT_START.value, fail_fast=_FAIL_FAST.value,
                         score_threshold=_SCORE_THRESHOLD.value,
                         info={'datasets': _DATASET.value, 'trackers': described,
                               'command': cli.command_line()}, status=status)
  finally:
    if status is not None:
      status.finish()
  print(report.table())
  plots = ''.join(f', {name}' for name in report.plots)  # success.png, precision.png, ...
  print(f'wrote {pathlib.Path(_OUT.value) / "results.json"}{plots} and the result files')
  if archive is not None:  # refuses (naming them) if any sequence failed: no partial archive
    submission.write_got10k(archive, next(iter(to_run)), report, made=_OUT.value)
    print(f'wrote {archive}: the GOT-10k server submission ({len(seqs)} sequences)')
  if report.failed:
    print(f're3_jax.evaluate: error: {len(report.failed)} of {len(seqs)} sequences failed and are '
          'not scored: ' + '; '.join(map(str, report.failed)), file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  cli.run(main)
