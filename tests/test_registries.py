"""The four extension points are each one table (docs/EXTENDING.md): the conv towers
(`model.towers.TOWERS`), the harness's trackers (`evaluation.trackers.TRACKERS`), the metric
families of the report (`evaluation.metric_families.FAMILIES`) and the dataset layouts
(`datasets.layouts.LAYOUTS`). Every entry works where it is looked up, the places that
offer names derive them from the table, and no code chooses by a name outside the entries."""

from __future__ import annotations

import ast
import json
import pathlib
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax import model
from re3_jax.evaluation import baselines
from re3_jax.datasets import layouts
from re3_jax.evaluation import harness
from re3_jax.evaluation import metric_families
from re3_jax.evaluation import metric_family
from re3_jax.evaluation import trackers
from re3_jax.datasets import layouts
from re3_jax.input import folder_sources
from re3_jax.datasets import dataset_roots
from re3_jax.model import network
from re3_jax.model import towers
from re3_jax.tracking import shipped

from tests.evaluation.test_harness import ScriptedTracker, make_sequence

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = REPO / 're3_jax'
DOC = REPO / 'docs' / 'EXTENDING.md'


def _sources():
  for path in sorted(PACKAGE.rglob('*.py')):
    yield path.relative_to(PACKAGE).as_posix(), path.read_text()


# ---------------------------------------------------------------------------
# Towers.


def _configs_of(name):
  return [c for c in model.CONFIGS.values() if c.tower == name]


@pytest.mark.parametrize('name', sorted(towers.TOWERS))
def test_every_tower_builds_with_the_features_and_keys_its_record_gives(name):
  tower = towers.get(name)
  assert tower.name == name
  configs = _configs_of(name)
  assert configs, f'no named config (model.CONFIGS) has the {name} tower'
  for config in configs:
    s = config.crop_size
    crops = jnp.zeros((2, s, s, 3), jnp.uint8)
    module = towers.module(config)
    variables = jax.eval_shape(module.init, jax.random.key(0), crops)
    feats, last = jax.eval_shape(module.apply, variables, crops)
    assert feats.shape == (2, config.features_per_crop), config.name
    c, g = tower.last(config)
    assert last.shape == (2, g, g, c), config.name
    params = network.abstract_params(config)
    assert set(tower.keys(config)) <= set(params), config.name
    assert set(variables['params']) <= set(params), config.name  # the same tree as init
    assert isinstance(tower.describe(config), str)


def _code_strings(text: str) -> list[str]:
  """The string constants of a module's code (docstrings left out)."""
  tree = ast.parse(text)
  docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))
                and n.body and isinstance(n.body[0], ast.Expr)}
  return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
          and isinstance(n.value, str) and id(n) not in docstrings]


def test_no_code_chooses_by_tower_name_outside_the_tower_modules():
  for rel, text in _sources():
    if rel.startswith('model/tower_') or rel == 'model/configs.py':  # the entries; named configs
      continue
    assert not re.search(r'\.tower\s*(==|!=|\bin\b)|TOWER_MODULES', text), rel
    named = [s for s in _code_strings(text) if s in towers.TOWERS]
    assert not named, f'{rel} names towers {named} in its code'


def test_an_unknown_tower_is_an_error_naming_the_registered_ones():
  with pytest.raises(ValueError, match=re.escape(str(tuple(towers.TOWERS)))):
    model.get_config('tiny').replace(tower='resnet')


# ---------------------------------------------------------------------------
# Trackers of the harness.


def test_trackers_hold_every_shipped_model_and_opencv_baseline():
  assert set(shipped.SHIPPED) | set(baselines.OPENCV_TRACKERS) | {'re3'} == set(trackers.TRACKERS)
  for name, entry in trackers.TRACKERS.items():
    assert entry.name == name and entry.about
  with pytest.raises(ValueError, match='unknown tracker .siamfc.; known: '
                     + ', '.join(trackers.TRACKERS)):
    trackers.make('siamfc')
  with pytest.raises(ValueError, match='unknown tracker'):
    harness.make_tracker('siamfc')


def test_the_evaluate_command_offers_exactly_the_registered_trackers(tmp_path):
  command = [sys.executable, '-m', 're3_jax.evaluate', '--tracker=nope', f'--out={tmp_path}',
             f'--dataset=otb:{tmp_path}']
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode != 0
  choices = re.search(r'value should be one of <([^>]*)>', result.stderr)
  assert choices, result.stderr[-2000:]
  assert choices.group(1).split('|') == list(trackers.TRACKERS)


def test_no_code_chooses_by_tracker_name_outside_the_table():
  for rel in ('evaluate.py', 'evaluation/harness.py'):
    text = (PACKAGE / rel).read_text()
    assert not re.search(r"""name\s*(==|!=|\bin\b)\s*['"(]|in shipped\.SHIPPED|in baselines\.""",
                         text), rel


# ---------------------------------------------------------------------------
# Metric families.


def test_every_metric_family_is_in_the_report_json_and_table(tmp_path):
  seqs = [make_sequence(tmp_path / 'a', 6, missing=(3,)), make_sequence(tmp_path / 'b', 5)]
  report = harness.run({'t': ScriptedTracker(lose={2})}, seqs, tmp_path / 'out',
                       protocols=('ope', 'vot'), log=lambda _: None)
  saved = json.loads((tmp_path / 'out/results.json').read_text())
  table = report.table().splitlines()[0].split()
  for name, family in metric_families.FAMILIES.items():
    assert family.name == name and family.protocol in metric_families.PROTOCOLS
    entry = saved['trackers']['t'][family.protocol]
    assert name in entry['overall'], name
    assert all(name in per_seq for per_seq in entry['sequences'].values()), name
    for column in family.columns:
      assert column.head.split()[0] in table, (name, column.head)
    assert getattr(report.results[('t', family.protocol)][0], name) is not None
  assert set(saved['trackers']['t']['ope']['sequences']['a']) >= {
      'ope', 'got10k', 'norm_precision', 'scores'}
  assert (tmp_path / 'out/success.png').is_file() and report.plots[:2] == ['success.png',
                                                                           'precision.png']


def test_a_new_family_is_one_entry(tmp_path, monkeypatch):
  """A family added to the table alone reaches the progress line, the table, results.json and
  every result: the report and the harness loop over the table."""
  counted = metric_family.MetricFamily(
      name='true_frames', protocol='ope',
      sequence=lambda run, truth, options: int(np.isfinite(truth).all(axis=1).sum()),
      overall=lambda scored, options: sum(value for _, _, value in scored),
      columns=(metric_family.Column('true', lambda v: v, 'd'),),
      summary=lambda v: f'{v} true frames')
  monkeypatch.setitem(metric_families.FAMILIES, 'true_frames', counted)
  seqs = [make_sequence(tmp_path / 'a', 6, missing=(3,)), make_sequence(tmp_path / 'b', 5)]
  lines = []
  report = harness.run({'t': ScriptedTracker()}, seqs, tmp_path / 'out', log=lines.append)
  assert lines[0].endswith(', 5 true frames') and lines[1].endswith(', 5 true frames')
  saved = json.loads((tmp_path / 'out/results.json').read_text())['trackers']['t']['ope']
  assert [s['true_frames'] for s in saved['sequences'].values()] == [5, 5]
  assert saved['overall']['true_frames'] == 10
  table = [line.split() for line in report.table().splitlines()]
  column = table[0].index('true')
  assert [table[1][column], table[2][column]] == ['5', '5']
  assert table[3][column + 1] == '10'  # the row of 'OVERALL (2)', two words
  assert report.results[('t', 'ope')][0].true_frames == 5


# ---------------------------------------------------------------------------
# Dataset layouts.


def test_every_layout_is_an_evaluation_dataset_and_a_training_source(tmp_path):
  assert layouts.KINDS == layouts.KINDS == tuple(layouts.LAYOUTS)
  for kind, layout in layouts.LAYOUTS.items():
    assert layout.name == kind and layout.about
    assert layouts.parse_spec(f'{kind}:{tmp_path}') == (kind, tmp_path)
    assert folder_sources.parse_name(f'{kind}:{tmp_path}')[:2] == (kind, 'track')
    assert folder_sources.parse_name(f'{kind}_sim:{tmp_path}')[:2] == (kind, 'image')
    with pytest.raises(FileNotFoundError, match='not a folder'):
      layouts.open_root(kind, tmp_path / 'none')
  with pytest.raises(ValueError, match='one of ' + ', '.join(layouts.KINDS)):
    layouts.open_root('trackingnet', tmp_path)
  # The readers' module holds readers, not a second table.
  assert not any(hasattr(dataset_roots, n) for n in ('READERS', 'KINDS', 'open_root'))


def test_a_layouts_dataset_is_of_its_kind(tmp_path):
  from re3_jax.testing import fake_datasets  # pylint: disable=g-import-not-at-top
  fake_datasets.write_otb_sequence(tmp_path / 'otb', 'a', [[10.0, 10, 20, 20]] * 2)
  fake_datasets.write_vid(tmp_path / 'vid', split='val', videos=1, frames=3, tracks_per_video=1)
  for kind in ('otb', 'vid'):
    ds = layouts.open_root(kind, tmp_path / kind)
    assert ds.kind == kind and len(ds.sequences) == 1
  some = layouts.open_root('vid', tmp_path / 'vid', names=['ILSVRC2015_val_00000000'])
  assert some.names == ['ILSVRC2015_val_00000000/0']
  # ... and a training source, read by the same entry.
  assert len(folder_sources.FolderSource(f'vid:{tmp_path / "vid"}')) == 1
  assert len(folder_sources.FolderSource(f'vid_sim:{tmp_path / "vid"}')) == 3


# ---------------------------------------------------------------------------
# The guide.


def test_the_guide_shows_each_table_with_real_names():
  text = DOC.read_text()
  for table, names in (('TOWERS', towers.TOWERS), ('TRACKERS', trackers.TRACKERS),
                       ('FAMILIES', metric_families.FAMILIES),
                       ('LAYOUTS', layouts.LAYOUTS)):
    assert table in text, table
    assert any(f'{n}' in text for n in names), table
  for path in re.findall(r'`(re3_jax/[\w/]+\.py)`', text):
    assert (REPO / path).is_file(), path
