"""Runs experiments/colab_demo.ipynb top to bottom, headless, in its reduced setting (CPU).

Needs nbclient, nbformat and ipykernel (``pip install nbclient nbformat ipykernel``).
"""

import base64
import csv
import pathlib

import pytest

nbclient = pytest.importorskip('nbclient')
nbformat = pytest.importorskip('nbformat')
pytest.importorskip('ipykernel')

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / 'experiments' / 'colab_demo.ipynb'
SMOKE_FRAMES = 12  # the notebook's clip length with RE3_DEMO_SMOKE=1


def test_stored_without_outputs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(nb)
  code = [c for c in nb.cells if c.cell_type == 'code']
  assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
def test_runs_headless_and_tracks(tmp_path, monkeypatch):
  monkeypatch.setenv('RE3_DEMO_SMOKE', '1')
  monkeypatch.setenv('RE3_REPO_DIR', str(ROOT))
  monkeypatch.setenv('JAX_PLATFORMS', 'cpu')
  monkeypatch.setenv('MPLBACKEND', 'module://matplotlib_inline.backend_inline')
  for name in ('RE3_REPO_URL', 'RE3_DEMO_CHECKPOINT'):
    monkeypatch.delenv(name, raising=False)
  nb = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(nb, timeout=150, kernel_name='python3',
                                   resources={'metadata': {'path': str(tmp_path)}})
  client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails

  outputs = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs]
  assert not [o for o in outputs if o.output_type == 'error']
  text = ''.join(o.get('text', '') for o in outputs if o.output_type == 'stream')
  assert 'done: step 2' in text  # the training run finished
  assert f'{SMOKE_FRAMES} frames of 128x96' in text
  assert 'frame 0: [' in text and 'mean IoU with the true boxes' in text
  assert '1 object(s):' in text and '3 object(s):' in text and 'frames/s' in text
  # Batched boxes match tracking alone (the printed maximum difference is small).
  diff = float(text.split('|batched - alone| for the object: ')[1].split()[0])
  assert diff < 1e-2
  images = [o.data for o in outputs if o.output_type == 'display_data']
  assert sum('image/png' in d for d in images) == 2  # the two matplotlib rows of frames
  gifs = [base64.b64decode(d['image/gif']) for d in images if 'image/gif' in d]
  assert len(gifs) == 2 and all(g.startswith(b'GIF89a') for g in gifs)
  # The files it wrote in its working directory.
  assert (tmp_path / 'tracked.gif').read_bytes() == gifs[0]
  assert (tmp_path / 'runs/colab_synthetic/checkpoints/2/params').is_dir()
  with open(tmp_path / 'tracked_boxes.csv', newline='') as f:
    rows = list(csv.reader(f))
  assert rows[0] == ['frame', 'object_id', 'x1', 'y1', 'x2', 'y2', 'score']
  assert len(rows) == 1 + SMOKE_FRAMES and rows[-1][0] == str(SMOKE_FRAMES - 1)
