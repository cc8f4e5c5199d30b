"""The GOT-10k evaluation server's submission archive (the test split's results as a zip).

GOT-10k withholds the test split's ground truth: results are scored by
uploading a zip to its server. The got10k toolkit (``ExperimentGOT10k.run``
and ``report`` for ``subset='test'``) writes one folder per sequence under
``results/GOT-10k/TRACKER/`` and zips that folder's contents with
``shutil.make_archive(base, 'zip', result_dir)``; `write_got10k` builds the
same archive from the harness's OPE results:

* top-level entries: one folder per sequence, ``GOT-10k_Test_000001/``;
* in it ``GOT-10k_Test_000001_001.txt`` (one ``x,y,w,h`` line per frame,
  ``%.3f``, comma-separated, 1-based; the first line the given first box)
  and ``GOT-10k_Test_000001_time.txt`` (seconds per frame, ``%.8f``).

The files are written by `results.write_got10k`, the one writer of the harness's
``TRACKER/got10k/`` files too. The archive is written only when every
sequence has a result (never a partial archive), and atomically: a file at
the archive's name is always complete.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from typing import Sequence

from re3_jax.core import outputs
from re3_jax.evaluation import report as report_lib
from re3_jax.evaluation import results as results_lib

SUFFIX = '.zip'


def check_path(path: str | os.PathLike, made: str | os.PathLike | None = None) -> pathlib.Path:
  """The archive's path, checked before any tracking: a ``.zip`` name in an existing folder.

  Args:
    path: the archive.
    made: a folder the run makes (the evaluation's ``--out``): an archive inside it
      needs no existing folder (`write_got10k` makes it).

  Raises:
    ValueError: the name does not end in ``.zip``, or names a folder.
    FileNotFoundError: its folder does not exist and is not inside `made`.
  """
  path = pathlib.Path(path).expanduser()
  inside = made is not None and path.parent.absolute().is_relative_to(
      pathlib.Path(made).expanduser().absolute())
  if path.suffix.lower() != SUFFIX or not path.stem:
    raise ValueError(f'submission archive {path}: the name must end in {SUFFIX} (the GOT-10k '
                     'server takes a zip)')
  if path.is_dir():
    raise ValueError(f'submission archive {path}: is a folder')
  if not path.parent.is_dir() and not inside:
    raise FileNotFoundError(f'submission archive {path}: folder {path.parent} does not exist')
  return path


def write_got10k(path: str | os.PathLike, tracker: str, report: report_lib.Report,
                 sequences: Sequence[str] | None = None,
                 made: str | os.PathLike | None = None) -> pathlib.Path:
  """Writes `tracker`'s OPE results in `report` as a GOT-10k server submission zip.

  Args:
    path: the archive (see `check_path`); replaced if it exists.
    tracker: the tracker whose OPE results to submit.
    report: the harness's report (`harness.run`).
    sequences: the sequences the archive must hold (default: those `report`
      ran, ``report.info['sequences']``).
    made: the run's output folder (see `check_path`): the archive's folder is made there.

  Returns:
    The archive's path.

  Raises:
    ValueError: a sequence failed (``report.failed``) or has no OPE result of
      `tracker`: the message names them and nothing is written.
  """
  path = check_path(path, made)
  done = {r.sequence: r for r in report.results.get((tracker, 'ope'), [])}
  if sequences is None:
    sequences = report.info.get('sequences', list(done))
  if report.failed:
    raise ValueError(f'submission archive {path} not written: {len(report.failed)} of '
                     f'{len(sequences)} sequences failed: ' + '; '.join(map(str, report.failed)))
  missing = [s for s in sequences if s not in done]
  if missing:
    raise ValueError(f'submission archive {path} not written: no {tracker} OPE result for '
                     f'sequences {", ".join(missing)}')
  path.parent.mkdir(parents=True, exist_ok=True)  # checked: exists, or inside `made`
  with tempfile.TemporaryDirectory(prefix='got10k_submission_') as staging:
    for name in sequences:
      r = done[name].run
      results_lib.write_got10k(pathlib.Path(staging), name, r.boxes, r.frame_times)
    with outputs.atomic_output(path) as tmp:
      # The toolkit's own call (got10k.utils.ioutils.compress): the same entries, in the same order.
      shutil.make_archive(str(tmp)[:-len(SUFFIX)], 'zip', staging)
  return path
