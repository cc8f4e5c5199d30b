"""Writes the torch fixtures of `tests/model/test_torch_files.py` and `test_official_weights.py`.

Run by hand, once, with torch installed (in a throwaway venv: the suite runs
without torch, as CI does), from the repository root::

  python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
  /tmp/torchenv/bin/python tests/data/make_torch_fixture.py

Last written on 2026-12-01 with torch 2.14.1 (CPU) and NumPy 2.4.6. Files, in
`tests/data/`:

* ``torch_paper_tiny.pt``: ``torch.save`` of the state_dict of
  `re3_references.torch_paper_module` (the official port's paper-model keys)
  at widths `re3_references.TINY`, seed 0.
* ``torch_paper_tiny.npz``: ``sha256/KEY``, the SHA-256 of each state_dict
  tensor's ``.numpy()`` bytes (C order); ``state_in`` (c1, h1, c2, h2 stacked,
  [4, 2, lstm], random); the module's ``outputs`` [2, 3, 4] and ``state_out``
  (c1, h1, c2, h2 stacked) over 3 steps on `re3_references.hashed_crops(2, 3)`
  in float32, and ``outputs_f64`` / ``state_out_f64``, the same in float64
  (the module and inputs cast to double: the exact result to float32's eyes).
* ``torch_tensors.pt``: tensors that exercise the reader: views of one storage
  (transposed, with an offset, strided), float64/float16/bfloat16, int64,
  int8, uint8, bool, a 0-d and an empty tensor, an ``nn.Parameter``.
* ``torch_tensors.npz``: each tensor's ``.numpy()`` (bfloat16 as float32, exact).
"""

import hashlib
import pathlib
import sys

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / 'model'))
import re3_references as refs  # pylint: disable=g-import-not-at-top,wrong-import-position

BATCH, UNROLLS = 2, 3


def run(net, crops, state):
  """The module over time: crops [B, T, 2, 227, 227, 3]; state (c1, h1, c2, h2)."""
  c1, h1, c2, h2 = state
  state = (h1, c1, h2, c2)  # the port's order
  outputs = []
  with torch.no_grad():
    for t in range(crops.shape[1]):
      out, state = net(crops[:, t], state)
      outputs.append(out)
  h1, c1, h2, c2 = state
  return torch.stack(outputs, 1).numpy(), np.stack([s.numpy() for s in (c1, h1, c2, h2)])


def paper_fixture():
  net = refs.torch_paper_module(refs.TINY, seed=0)
  state_dict = net.state_dict()
  torch.save(state_dict, HERE / 'torch_paper_tiny.pt')
  arrays = {f'sha256/{k}': np.array(hashlib.sha256(v.numpy().tobytes()).hexdigest())
            for k, v in state_dict.items()}
  rng = np.random.default_rng(5)
  state_in = (rng.standard_normal((4, BATCH, refs.TINY.lstm)) * 0.5).astype(np.float32)
  crops = refs.hashed_crops(BATCH, UNROLLS)
  arrays['state_in'] = state_in
  arrays['outputs'], arrays['state_out'] = run(
      net, torch.from_numpy(crops), [torch.from_numpy(s) for s in state_in])
  # The forward pass casts MEAN_RGB to the default dtype: make that double too.
  torch.set_default_dtype(torch.float64)
  try:
    arrays['outputs_f64'], arrays['state_out_f64'] = run(
        net.double(), torch.from_numpy(crops.astype(np.float64)),
        [torch.from_numpy(s.astype(np.float64)) for s in state_in])
  finally:
    torch.set_default_dtype(torch.float32)
  np.savez_compressed(HERE / 'torch_paper_tiny.npz', **arrays)
  print('outputs', arrays['outputs'].reshape(-1, 4))
  print('float32 - float64: outputs',
        np.abs(arrays['outputs'] - arrays['outputs_f64']).max(), 'states',
        np.abs(arrays['state_out'] - arrays['state_out_f64']).max())


def tensors_fixture():
  base = torch.arange(20, dtype=torch.float32).reshape(4, 5) / 7
  tensors = {
      'transposed': base.t(),
      'offset_view': base[1:3, 2:5],
      'strided': base[:, ::2],
      'float64': torch.linspace(-1, 1, 6, dtype=torch.float64).reshape(2, 3),
      'float16': torch.tensor([0.1, -2.5, 65504.0, 6e-8], dtype=torch.float16),
      'bfloat16': torch.tensor([[0.1, -3.0], [1e30, -1e-30]], dtype=torch.bfloat16),
      'int64': torch.arange(-3, 3, dtype=torch.int64) * (2**40),
      'int8': torch.tensor([-128, 0, 127], dtype=torch.int8),
      'uint8': torch.tensor([0, 200, 255], dtype=torch.uint8),
      'bool': torch.tensor([True, False, True]),
      'scalar': torch.tensor(3.25),
      'empty': torch.zeros(0, 3),
      'parameter': torch.nn.Parameter(torch.full((2, 2), 0.5)),
  }
  torch.save(tensors, HERE / 'torch_tensors.pt')
  values = {k: (v.float() if v.dtype == torch.bfloat16 else v).detach().numpy()
            for k, v in tensors.items()}
  np.savez_compressed(HERE / 'torch_tensors.npz', **values)


if __name__ == '__main__':
  print('torch', torch.__version__, 'numpy', np.__version__)
  paper_fixture()
  tensors_fixture()
  for path in sorted(HERE.glob('torch_*')):
    print(path.name, path.stat().st_size, 'bytes')
