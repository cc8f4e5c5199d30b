"""`core.outputs.atomic_output`: an output appears whole or not at all."""

import pytest

from re3_jax.core import outputs


def test_atomic_output(tmp_path):
  target = tmp_path / 'boxes.csv'
  with outputs.atomic_output(target) as tmp:
    assert tmp.parent == tmp_path and tmp.name.startswith('.boxes.partial-')
    assert tmp.suffix == '.csv'
    tmp.write_text('complete')
    assert not target.exists()
  assert target.read_text() == 'complete'
  for error in (RuntimeError('boom'), KeyboardInterrupt()):
    with pytest.raises(type(error)):
      with outputs.atomic_output(target) as tmp:
        tmp.write_text('half')
        raise error
    assert target.read_text() == 'complete'  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ['boxes.csv']
  with pytest.raises(outputs.OutputError, match='was not written'):
    with outputs.atomic_output(tmp_path / 'never.csv'):
      pass
  with pytest.raises(outputs.OutputError, match=r'folder .*nope does not exist'):
    with outputs.atomic_output(tmp_path / 'nope' / 'x.csv'):
      pass
