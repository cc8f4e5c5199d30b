"""Tests of `re3_jax.model.torch_files`, the torch-free reader of ``torch.save`` files.

The fixtures were written by real torch (`tests/data/make_torch_fixture.py`,
its header says which version): the reader must give the exact arrays torch's
``.numpy()`` gave, and refuse anything in a pickle that a state_dict does not
need, or a damaged file, with an error naming the file.
"""

import hashlib
import pathlib
import zipfile

import ml_dtypes
import numpy as np
import pytest

from re3_jax.model import torch_files

DATA = pathlib.Path(__file__).resolve().parents[1] / 'data'
TENSORS = DATA / 'torch_tensors.pt'
PAPER = DATA / 'torch_paper_tiny.pt'


def _rewrite(src: pathlib.Path, dst: pathlib.Path, edits: dict) -> pathlib.Path:
  """Copies the zip `src` to `dst`; ``edits[name]``: new bytes, or None to drop the entry.

  Names are those after the archive's top folder (``data.pkl``, ``data/0``).
  """
  with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
    for info in zin.infolist():
      prefix, name = info.filename.split('/', 1)
      data = edits[name] if name in edits else zin.read(info)
      if data is not None:
        zout.writestr(f'{prefix}/{name}', data)
  return dst


def _zip(path: pathlib.Path, entries: dict) -> pathlib.Path:
  with zipfile.ZipFile(path, 'w') as z:
    for name, data in entries.items():
      z.writestr(name, data)
  return path


def _text(value: str) -> bytes:
  """Pickle's BINUNICODE."""
  data = value.encode()
  return b'X' + len(data).to_bytes(4, 'little') + data


def _int(value: int) -> bytes:
  """Pickle's BININT (4 bytes, signed)."""
  return b'J' + value.to_bytes(4, 'little', signed=True)


def _tensor_file(path, numel, offset, size, stride, numel_pickled=None):
  """A one-tensor ``torch.save`` archive written by hand: data.pkl as torch writes it (protocol 2).

  The storage holds float32 0, 1, ..., numel - 1; the tensor is its view.
  """
  ints = lambda values: b'(' + b''.join(_int(v) for v in values) + b't'
  numel_op = _int(numel) if numel_pickled is None else _text(numel_pickled)
  pkl = (b'\x80\x02ctorch._utils\n_rebuild_tensor_v2\n('
         + b'(' + _text('storage') + b'ctorch\nFloatStorage\n' + _text('0') + _text('cpu')
         + numel_op + b'tQ' + _int(offset) + ints(size) + ints(stride) + b'\x89}tR.')
  return _zip(path, {'t/data.pkl': pkl, 't/byteorder': b'little',
                     't/data/0': np.arange(numel, dtype='<f4').tobytes()})


def test_views_are_checked_against_their_storage(tmp_path):
  got = torch_files.load(_tensor_file(tmp_path / 'ok.pt', 12, 1, (2, 3), (1, 4)))
  np.testing.assert_array_equal(got, 1 + np.add.outer([0, 1], [0, 4, 8]).astype(np.float32))
  assert got.dtype == np.float32  # element [i, j] = offset + i * 1 + j * 4
  np.testing.assert_array_equal(torch_files.load(_tensor_file(tmp_path / 'e.pt', 0, 0, (0,), (1,))),
                                np.zeros(0, np.float32))
  with pytest.raises(ValueError, match=r'past\.pt: a tensor of size \(2, 3\), stride \(1, 4\) '
                     r'at offset 4 reaches past its storage of 12 elements'):
    torch_files.load(_tensor_file(tmp_path / 'past.pt', 12, 4, (2, 3), (1, 4)))
  with pytest.raises(ValueError, match=r'negative\.pt: a tensor of size \(3,\), stride \(-1,\)'):
    torch_files.load(_tensor_file(tmp_path / 'negative.pt', 12, 5, (3,), (-1,)))
  with pytest.raises(ValueError, match=r"numel\.pt: data\.pkl gives storage 0 'many' elements"):
    torch_files.load(_tensor_file(tmp_path / 'numel.pt', 12, 0, (3,), (1,), numel_pickled='many'))


def test_reads_the_exact_arrays_torch_wrote():
  tensors = torch_files.load(TENSORS)
  expected = np.load(DATA / 'torch_tensors.npz')
  assert sorted(tensors) == sorted(expected.files)
  for key, want in expected.items():
    got = tensors[key]
    assert isinstance(got, np.ndarray) and got.flags.c_contiguous and got.flags.writeable, key
    if key == 'bfloat16':  # NumPy has no bfloat16: the generator stored it as float32 (exact).
      assert got.dtype == ml_dtypes.bfloat16
      got = got.astype(np.float32)
    assert got.dtype == want.dtype and got.shape == want.shape, key
    np.testing.assert_array_equal(got, want, err_msg=key)
  # The views of one storage are read as the views, not as the storage.
  base = np.arange(20, dtype=np.float32).reshape(4, 5) / np.float32(7)
  np.testing.assert_array_equal(tensors['transposed'], base.T)
  np.testing.assert_array_equal(tensors['offset_view'], base[1:3, 2:5])
  np.testing.assert_array_equal(tensors['strided'], base[:, ::2])
  assert tensors['scalar'].shape == () and tensors['empty'].shape == (0, 3)


def test_reads_the_paper_state_dict_exactly():
  state = torch_files.load_state_dict(PAPER)
  expected = np.load(DATA / 'torch_paper_tiny.npz')
  digests = {k[len('sha256/'):]: str(expected[k]) for k in expected.files
             if k.startswith('sha256/')}
  assert list(state) == list(digests)  # the state_dict's order
  for key, value in state.items():
    assert value.dtype == np.float32
    assert hashlib.sha256(value.tobytes()).hexdigest() == digests[key], key


def test_big_endian_archive(tmp_path):
  """``byteorder`` says big: every storage (all float32 here) byte-swapped reads the same."""
  with zipfile.ZipFile(PAPER) as z:
    swapped = {name.split('/', 1)[1]: np.frombuffer(
        z.read(name), '<f4').astype('>f4').tobytes()
               for name in z.namelist() if '/data/' in name}
  big = _rewrite(PAPER, tmp_path / 'big.pt', dict(swapped, byteorder=b'big'))
  got, want = torch_files.load_state_dict(big), torch_files.load_state_dict(PAPER)
  for key in want:
    np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_refuses_globals_a_state_dict_does_not_need(tmp_path):
  witness = tmp_path / 'ran'
  command = f'touch {witness}'.encode()
  # pickle protocol 2: GLOBAL os.system, BINUNICODE command, TUPLE1, REDUCE, STOP.
  evil = (b'\x80\x02cos\nsystem\n' + b'X' + len(command).to_bytes(4, 'little') + command
          + b'\x85R.')
  path = _zip(tmp_path / 'evil.pt', {'evil/data.pkl': evil, 'evil/byteorder': b'little'})
  with pytest.raises(ValueError, match=r'evil\.pt: data\.pkl references the global os\.system'):
    torch_files.load(path)
  assert not witness.exists()
  # A global inside a real file (the first tensor's rebuild function swapped for eval).
  with zipfile.ZipFile(TENSORS) as z:
    pkl = z.read('torch_tensors/data.pkl')
  target = b'torch._utils\n_rebuild_tensor_v2\n'
  assert target in pkl
  swapped = pkl.replace(target, b'builtins\neval\n', 1)
  with pytest.raises(ValueError, match=r'eval\.pt: data\.pkl references the global builtins\.eval'):
    torch_files.load(_rewrite(TENSORS, tmp_path / 'eval.pt', {'data.pkl': swapped}))
  unknown = pkl.replace(b'torch\nFloatStorage\n', b'torch\nQInt8Storage\n', 1)
  with pytest.raises(ValueError, match=r'unknown\.pt: .*storage of type torch\.QInt8Storage'):
    torch_files.load(_rewrite(TENSORS, tmp_path / 'unknown.pt', {'data.pkl': unknown}))


def test_damaged_files_name_the_file(tmp_path):
  with pytest.raises(FileNotFoundError, match='no PyTorch file at'):
    torch_files.load(tmp_path / 'nothing.pt')
  junk = tmp_path / 'junk.pt'
  junk.write_bytes(b'not a zip file')
  with pytest.raises(ValueError, match=r'junk\.pt is not a PyTorch state_dict file \(not a zip'):
    torch_files.load(junk)
  whole = PAPER.read_bytes()
  cut = tmp_path / 'cut.pt'
  cut.write_bytes(whole[:len(whole) // 2])
  with pytest.raises(ValueError, match=r'cut\.pt is not .* a truncated or corrupt zip'):
    torch_files.load(cut)
  legacy = tmp_path / 'legacy.pt'
  legacy.write_bytes(torch_files._LEGACY_MAGIC + b'.')  # pylint: disable=protected-access
  with pytest.raises(ValueError, match=r'legacy\.pt is in torch\'s legacy .* re-save it'):
    torch_files.load(legacy)
  with pytest.raises(ValueError, match=r'nopkl\.pt .* 0 ARCHIVE/data\.pkl entries'):
    torch_files.load(_rewrite(PAPER, tmp_path / 'nopkl.pt', {'data.pkl': None}))
  with pytest.raises(ValueError, match=r'short\.pt: storage torch_paper_tiny/data/0 holds 8 bytes '
                     r'but its \d+ FloatStorage elements need \d+ \(truncated\)'):
    torch_files.load(_rewrite(PAPER, tmp_path / 'short.pt', {'data/0': b'\0' * 8}))
  with pytest.raises(ValueError, match=r'gone\.pt: storage torch_paper_tiny/data/3 is missing'):
    torch_files.load(_rewrite(PAPER, tmp_path / 'gone.pt', {'data/3': None}))
  with zipfile.ZipFile(PAPER) as z:
    pkl = z.read('torch_paper_tiny/data.pkl')
  with pytest.raises(ValueError, match=r'badpkl\.pt: torch_paper_tiny/data\.pkl or a storage is '
                     r'corrupt: UnpicklingError: pickle data was truncated'):
    torch_files.load(_rewrite(PAPER, tmp_path / 'badpkl.pt', {'data.pkl': pkl[:len(pkl) // 2]}))
  with pytest.raises(ValueError, match=r'order\.pt: .*byteorder says \'middle\''):
    torch_files.load(_rewrite(PAPER, tmp_path / 'order.pt', {'byteorder': b'middle'}))
  # A bit flipped inside a stored entry: the zip's CRC catches it.
  flipped = bytearray(whole)
  with zipfile.ZipFile(PAPER) as z:
    info = z.getinfo('torch_paper_tiny/data/0')
  local = info.header_offset  # local header: 30 bytes, then name and extra field (lengths at 26)
  start = local + 30 + int.from_bytes(whole[local + 26:local + 28], 'little') + int.from_bytes(
      whole[local + 28:local + 30], 'little')
  flipped[start + 5] ^= 1
  crc = tmp_path / 'crc.pt'
  crc.write_bytes(bytes(flipped))
  with pytest.raises(ValueError, match=r'crc\.pt: .*corrupt: BadZipFile.*CRC'):
    torch_files.load(crc)


def test_a_file_that_is_not_a_state_dict(tmp_path):
  import pickle  # pylint: disable=g-import-not-at-top
  a_list = _zip(tmp_path / 'list.pt', {'a/data.pkl': pickle.dumps([1, 2], protocol=2)})
  assert torch_files.load(a_list) == [1, 2]
  with pytest.raises(ValueError, match=r'list\.pt holds a list, not a state_dict'):
    torch_files.load_state_dict(a_list)
  ints = _zip(tmp_path / 'ints.pt', {'a/data.pkl': pickle.dumps({'w': 3}, protocol=2)})
  with pytest.raises(ValueError, match=r"ints\.pt holds a mapping but not a state_dict: 'w' is "
                     'a int, not a tensor'):
    torch_files.load_state_dict(ints)


def _storage_file(path, storage, data, numel, size, stride=None, compress=False):
  """A one-tensor archive like `_tensor_file`, over a storage of type `storage` holding the
  bytes `data` and declaring `numel` elements (deflated with `compress`)."""
  stride = stride or tuple(int(np.prod(size[i + 1:])) for i in range(len(size)))
  ints = lambda values: b'(' + b''.join(_int(v) for v in values) + b't'
  pkl = (b'\x80\x02ctorch._utils\n_rebuild_tensor_v2\n('
         + b'(' + _text('storage') + b'ctorch\n' + storage.encode() + b'\n' + _text('0')
         + _text('cpu') + _int(numel) + b'tQ' + _int(0) + ints(size) + ints(stride)
         + b'\x89}tR.')
  method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
  with zipfile.ZipFile(path, 'w', method) as z:
    for name, entry in {'t/data.pkl': pkl, 't/byteorder': b'little', 't/data/0': data}.items():
      z.writestr(name, entry)
  return path


def test_views_that_repeat_elements_are_refused_before_allocating(tmp_path):
  """Issue 29, item 4: a stride-0 view of one float over 2^28 elements (a 1 GiB copy from a
  file of a few hundred bytes) and an overlapping one are refused."""
  expand = _tensor_file(tmp_path / 'expand.pt', 1, 0, (1 << 28,), (0,))
  assert expand.stat().st_size < 1000
  with pytest.raises(ValueError, match=r'expand\.pt: a tensor of size \(268435456,\), stride '
                     r'\(0,\) repeats elements of its storage'):
    torch_files.load(expand)
  with pytest.raises(ValueError, match=r'overlap\.pt: a tensor of size \(3, 3\), stride \(1, 1\) '
                     'repeats elements'):
    torch_files.load(_tensor_file(tmp_path / 'overlap.pt', 9, 0, (3, 3), (1, 1)))
  # Broadcast axes of size 1 (any stride) and a transposed view repeat nothing.
  got = torch_files.load(_tensor_file(tmp_path / 't.pt', 6, 0, (1, 3, 2), (0, 1, 3)))
  np.testing.assert_array_equal(got[0], np.arange(6, dtype=np.float32).reshape(2, 3).T)


def test_a_storage_must_hold_the_bytes_of_its_dtype(tmp_path):
  """A HalfStorage over float32 bytes (twice the bytes its elements take) is an error, not
  garbage weights; so is one short of them."""
  floats = np.arange(12, dtype='<f4').tobytes()
  with pytest.raises(ValueError, match=r'half\.pt: storage t/data/0 holds 48 bytes but its 12 '
                     r'HalfStorage elements need 24 \(the bytes of another dtype'):
    torch_files.load(_storage_file(tmp_path / 'half.pt', 'HalfStorage', floats, 12, (12,)))
  with pytest.raises(ValueError, match=r'short\.pt: storage t/data/0 holds 48 bytes but its 24 '
                     r'FloatStorage elements need 96 \(truncated\)'):
    torch_files.load(_storage_file(tmp_path / 'short.pt', 'FloatStorage', floats, 24, (24,)))
  half = np.arange(12, dtype='<f2')
  np.testing.assert_array_equal(torch_files.load(_storage_file(
      tmp_path / 'ok.pt', 'HalfStorage', half.tobytes(), 12, (12,))), half)


def test_a_deflate_bomb_is_read_no_further_than_declared(tmp_path, monkeypatch):
  """64 MiB of zeros deflate to ~64 KB: a storage declaring 4 floats reads 17 bytes of it; a
  declaration beyond `MAX_BYTES`, and a data.pkl beyond `MAX_PICKLE_BYTES`, are refused before
  reading (the limits lowered here to keep the test small)."""
  bomb = _storage_file(tmp_path / 'bomb.pt', 'FloatStorage', bytes(64 << 20), 4, (4,),
                       compress=True)
  assert bomb.stat().st_size < (1 << 20)
  with pytest.raises(ValueError, match=r'bomb\.pt: storage t/data/0 holds 67108864 bytes but its '
                     r'4 FloatStorage elements need 16'):
    torch_files.load(bomb)
  monkeypatch.setattr(torch_files, 'MAX_BYTES', 1000)
  with pytest.raises(ValueError, match=r'big\.pt: storage t/data/0 \(300 FloatStorage elements\) '
                     'would take the bytes read past 1000 \\(1200\\), more than the largest'):
    torch_files.load(_storage_file(tmp_path / 'big.pt', 'FloatStorage', bytes(1200), 300, (300,)))
  with pytest.raises(ValueError, match=r'copy\.pt: a tensor of size \(200,\) would take'):
    torch_files.load(_storage_file(tmp_path / 'copy.pt', 'FloatStorage', bytes(800), 200, (200,)))
  monkeypatch.setattr(torch_files, 'MAX_PICKLE_BYTES', 50)
  with pytest.raises(ValueError, match=r'pkl\.pt: t/data.pkl is larger than 50 bytes unpacked'):
    torch_files.load(_tensor_file(tmp_path / 'pkl.pt', 12, 0, (3,), (1,)))


def test_the_limit_is_derived_from_the_paper_model():
  from re3_jax import model  # pylint: disable=g-import-not-at-top
  assert model.count_params(model.abstract_params(model.get_config('paper'))) == (
      torch_files.PAPER_PARAMS)
  assert 2 * torch_files.PAPER_PARAMS * 4 < torch_files.MAX_BYTES  # storages + tensors, float32
