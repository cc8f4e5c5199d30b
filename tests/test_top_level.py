"""The top level the design names: re3_jax/ experiments/ data/ tests/ requirements.txt WORKSPACE.md."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def _pins(path: pathlib.Path) -> dict[str, str]:
  """name -> version of a requirements file, following its ``-r`` includes as pip does."""
  pins = {}
  for line in path.read_text().splitlines():
    line = line.split('#')[0].strip()
    if line.startswith('-r '):
      pins.update(_pins(path.parent / line[3:].strip()))
    elif line:
      name, version = re.fullmatch(r'([A-Za-z0-9_.\-\[\],]+)==(\S+)', line).groups()
      pins[name.lower()] = version
  return pins


def test_the_named_top_level_exists():
  for name in ('re3_jax', 'experiments', 'data', 'tests'):
    assert (REPO / name).is_dir(), name
  for name in ('requirements.txt', 'WORKSPACE.md', 'README.md', 'data/README.md'):
    assert (REPO / name).is_file(), name


def test_requirements_txt_is_command_1s_lock():
  top = _pins(REPO / 'requirements.txt')
  assert top == _pins(REPO / 'requirements/train.txt') and 'jax' in top
  assert 'tensorflow' not in top  # command 1 leaves the test extras out
  readme = (REPO / 'README.md').read_text()
  command_1 = readme.split('# 1.', 1)[1].splitlines()[1]
  assert command_1.startswith('python3 -m pip install -r requirements.txt -e . && '), command_1


@pytest.mark.skipif(shutil.which('git') is None or not (REPO / '.git').exists(),
                    reason='needs git and a checkout')
def test_data_folder_keeps_only_its_readme_in_git():
  ignored = subprocess.run(['git', 'check-ignore', 'data/manual/ILSVRC2015', 'data/tfds/x',
                            'data/README.md'], cwd=REPO, capture_output=True, text=True)
  assert ignored.stdout.split() == ['data/manual/ILSVRC2015', 'data/tfds/x']
  # Every flag default of the build command points into it (data/README.md's layout).
  build = (REPO / 're3_jax/input/builders/build.py').read_text()
  assert "'manual_dir', 'data/manual'" in build and "'data_dir', 'data/tfds'" in build
  layout = (REPO / 'data/README.md').read_text()
  assert 'manual/' in layout and 'tfds/' in layout and 'sequences/' in layout
