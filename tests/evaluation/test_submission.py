"""Tests of the GOT-10k server submission (`re3_jax.evaluation.submission`, ``--submission``).

The command line tracks a tiny fake GOT-10k test split (`fake_benchmarks.write_got10k_split`:
first-box-only ground truth, ``list.txt``) with Re3 on random ``tiny`` weights;
the got10k toolkit's own ``ExperimentGOT10k`` runs the same model (the
`got10k_tracker` adapter) on the same split and zips its results. The two
archives must hold the same entries, each file in the same format, the boxes
equal to the text's precision (the time files differ only in their values).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from re3_jax.evaluation import got10k_tracker
from re3_jax.evaluation import protocols
from re3_jax.evaluation import report as report_lib
from re3_jax.evaluation import submission
from re3_jax.testing import fake_benchmarks

REPO = pathlib.Path(__file__).resolve().parents[2]
SEQS, FRAMES = 3, 5
# Both sides write '%.3f' of the same float32 boxes: at most one rounding step apart (a tie
# rounded differently), plus float32 storage of ~100 px values.
BOX_ATOL = 1e-3 + 1e-5
BOX_LINE = re.compile(r'-?\d+\.\d{3}(,-?\d+\.\d{3}){3}')
TIME_LINE = re.compile(r'\d+\.\d{8}')
COMMAND = [sys.executable, '-m', 're3_jax.evaluate']


def _evaluate(*flags: str) -> subprocess.CompletedProcess:
  return subprocess.run(COMMAND + list(flags), cwd=REPO, capture_output=True, text=True,
                        timeout=300)


def _read_zip(path: pathlib.Path) -> dict[str, str]:
  with zipfile.ZipFile(path) as z:
    assert z.testzip() is None
    return {n: z.read(n).decode() for n in z.namelist()}


def test_archive_matches_the_got10k_toolkit(tmp_path):
  pytest.importorskip('got10k')
  from got10k.experiments import ExperimentGOT10k  # pylint: disable=g-import-not-at-top
  from re3_jax.tracking import tracker as tracker_lib  # pylint: disable=g-import-not-at-top
  root = tmp_path / 'GOT-10k'
  split = fake_benchmarks.write_got10k_split(root, split='test', videos=SEQS, frames=FRAMES)
  names = (split / 'list.txt').read_text().split()
  ours = tmp_path / 'ours.zip'
  result = _evaluate(f'--dataset=got10k:{split}', '--tracker=re3', '--tracker.random_model=tiny',
                     '--tracker.seed=0', f'--out={tmp_path / "out"}', f'--submission={ours}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'wrote {ours}: the GOT-10k server submission ({SEQS} sequences)' in result.stdout
  assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.')] == []  # no temporary

  # The toolkit: the same model (harness.make_tracker's random weights) through the adapter.
  adapter = got10k_tracker.Re3Got10kTracker(tracker_lib.load_tracker(None, 'tiny', seed=0),
                                            name='Re3Tiny')
  experiment = ExperimentGOT10k(str(root), subset='test', result_dir=str(tmp_path / 'results'),
                                report_dir=str(tmp_path / 'reports'))
  assert experiment.dataset.seq_names == names
  experiment.run(adapter)
  assert experiment.report([adapter.name]) is None  # the test subset: it only zips
  theirs = tmp_path / 'results' / 'GOT-10k' / f'{adapter.name}.zip'

  got, want = _read_zip(ours), _read_zip(theirs)
  assert sorted(got) == sorted(want)
  assert {n for n in got if n.endswith('/')} == {f'{n}/' for n in names}  # folder entries
  for name in names:
    boxes, times = f'{name}/{name}_001.txt', f'{name}/{name}_time.txt'
    assert {boxes, times} <= set(got)
    for text in (got[boxes], want[boxes]):
      lines = text.splitlines()
      assert len(lines) == FRAMES and text.endswith('\n')
      assert all(BOX_LINE.fullmatch(l) for l in lines), text
    # The first line is the given first box.
    first = np.loadtxt(split / name / 'groundtruth.txt', delimiter=',', ndmin=2)[0]
    assert got[boxes].splitlines()[0] == ','.join('%.3f' % v for v in first)
    ours_boxes = np.loadtxt(got[boxes].splitlines(), delimiter=',')
    np.testing.assert_allclose(ours_boxes, np.loadtxt(want[boxes].splitlines(), delimiter=','),
                               rtol=0, atol=BOX_ATOL)
    for text in (got[times], want[times]):
      lines = text.splitlines()
      assert len(lines) == FRAMES and all(TIME_LINE.fullmatch(l) for l in lines), text
  # The archive holds what the harness wrote in its own GOT-10k folder: one writer.
  for name, text in got.items():
    if not name.endswith('/'):
      assert (tmp_path / 'out/re3/got10k' / name).read_text() == text


def test_readme_submission_command_runs_as_written_on_a_fresh_run(tmp_path, readme_commands):
  # The archive's folder inside --out, which the run makes: no folder needs to exist before.
  [command] = readme_commands('--submission=')
  assert command[:3] == ['python3', '-m', 're3_jax.evaluate']
  out = next(a.split('=', 1)[1] for a in command if a.startswith('--out='))
  archive = next(a.split('=', 1)[1] for a in command if a.startswith('--submission='))
  assert pathlib.Path(archive).parent == pathlib.Path(out)
  # The README's ~/data/GOT-10k/test, in a home of the test's own; everything else as written.
  fake_benchmarks.write_got10k_split(tmp_path / 'data/GOT-10k', split='test', videos=2, frames=3)
  result = subprocess.run([sys.executable] + command[1:], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, HOME=str(tmp_path), PYTHONPATH=str(REPO)))
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'random weights' not in result.stderr.lower()  # the shipped model tracks
  assert set(_read_zip(tmp_path / archive)) >= {'GOT-10k_Test_000001/', 'GOT-10k_Test_000002/'}
  # Inside a folder --out makes, too; a missing folder elsewhere is refused (below).
  assert submission.check_path(tmp_path / 'new/sub/x.zip', made=tmp_path / 'new')
  with pytest.raises(FileNotFoundError, match='folder .*new does not exist'):
    submission.check_path(tmp_path / 'new/x.zip', made=tmp_path / 'other')


@pytest.mark.parametrize('flags, message', [
    (['--dataset=otb:{root}/test'], '--submission needs exactly one --dataset=got10k:ROOT (the '
     'GOT-10k server scores GOT-10k results), got --dataset=otb:{root}/test'),
    (['--dataset=got10k:{root}/test', '--dataset=got10k:{root}/val'],
     '--submission needs exactly one --dataset=got10k:ROOT'),
    (['--tracker=re3', '--tracker=opencv_kcf'], '--submission takes one --tracker, got re3, '
     'opencv_kcf'),
    (['--protocol=ope,vot'], '--submission needs --protocol=ope (the GOT-10k server scores '
     'one-pass runs), got --protocol=ope,vot'),
    (['--max_frames=2'], '--submission needs every frame'),
    (['--sequences=GOT-10k_Test_000001'], '--submission needs every sequence of the split'),
    (['--submission={root}/missing/re3.zip'],
     'submission archive {root}/missing/re3.zip: folder {root}/missing does not exist'),
    (['--submission={root}/re3.tar'],
     'submission archive {root}/re3.tar: the name must end in .zip'),
])
def test_command_line_refuses_a_bad_submission(tmp_path, flags, message):
  flags = [f.format(root=tmp_path) for f in flags]
  if not any(f.startswith('--dataset') for f in flags):
    flags.append(f'--dataset=got10k:{tmp_path}/test')
  if not any(f.startswith('--submission') for f in flags):
    flags.append(f'--submission={tmp_path}/re3.zip')
  result = _evaluate(*flags, '--tracker.random_model=tiny', f'--out={tmp_path / "out"}')
  assert result.returncode == 1, result.stderr[-3000:]
  assert result.stderr.splitlines()[-1].startswith(
      're3_jax.evaluate: error: ' + message.format(root=tmp_path)), result.stderr[-3000:]
  assert not (tmp_path / 'out').exists()  # refused before reading or tracking anything
  assert not list(tmp_path.glob('*.zip'))


def test_command_line_writes_no_archive_when_a_sequence_fails(tmp_path):
  split = fake_benchmarks.write_got10k_split(tmp_path / 'GOT-10k', split='test', videos=3, frames=3)
  bad = split / 'GOT-10k_Test_000002/groundtruth.txt'
  bad.write_text('500.0000,500.0000,10.0000,10.0000\n')  # outside the 96x72 frames
  path = tmp_path / 're3.zip'
  result = _evaluate(f'--dataset=got10k:{split}', '--tracker.random_model=tiny',
                     f'--out={tmp_path / "out"}', f'--submission={path}')
  assert result.returncode == 1, result.stderr[-3000:]
  assert result.stderr.splitlines()[-1].startswith(
      f're3_jax.evaluate: error: submission archive {path} not written: 1 of 3 sequences failed: '
      f'sequence GOT-10k_Test_000002 ({bad}): the first true box'), result.stderr[-3000:]
  assert (tmp_path / 'out/results.json').is_file()  # the others were scored
  assert sorted(p.name for p in tmp_path.iterdir()) == ['GOT-10k', 'out']


def _report(tmp_path: pathlib.Path, failed: bool) -> report_lib.Report:
  """A harness report of two scripted sequences, the second failed if `failed`."""
  names = ['GOT-10k_Test_000001', 'GOT-10k_Test_000002']
  boxes = np.array([[10, 20, 30, 40]] * 3, np.float32)
  run = protocols.Run(boxes, np.zeros(3, np.int8), np.full(3, 0.5), np.zeros(3, bool),
                      np.array([0.25, 0.125, 0.0625]), np.full(3, np.nan), np.zeros(3, bool))
  done = names[:1] if failed else names
  results = {('re3', 'ope'): [report_lib.SequenceResult('re3', 'ope', n, boxes, run)
                              for n in done]}
  failures = [report_lib.SequenceFailure(names[1], str(tmp_path / names[1] / 'groundtruth.txt'),
                                         'frame 2 is unreadable')] if failed else []
  return report_lib.Report(results, {'sequences': names}, failures)


def test_write_got10k_never_writes_a_partial_archive(tmp_path):
  path = tmp_path / 'sub.zip'
  with pytest.raises(ValueError, match=re.escape(
      f'submission archive {path} not written: 1 of 2 sequences failed: sequence '
      f'GOT-10k_Test_000002 ({tmp_path}/GOT-10k_Test_000002/groundtruth.txt): frame 2 is '
      'unreadable')):
    submission.write_got10k(path, 're3', _report(tmp_path, failed=True))
  report = _report(tmp_path, failed=False)
  with pytest.raises(ValueError, match='no re3 OPE result for sequences GOT-10k_Test_000003'):
    submission.write_got10k(path, 're3', report, ['GOT-10k_Test_000001', 'GOT-10k_Test_000003'])
  assert list(tmp_path.iterdir()) == []
  assert submission.write_got10k(path, 're3', report) == path
  files = _read_zip(path)
  assert files['GOT-10k_Test_000002/GOT-10k_Test_000002_001.txt'] == (
      '11.000,21.000,20.000,20.000\n' * 3)
  assert files['GOT-10k_Test_000001/GOT-10k_Test_000001_time.txt'] == (
      '0.25000000\n0.12500000\n0.06250000\n')
  assert list(tmp_path.iterdir()) == [path]
