"""The package's layering: every import inside `re3_jax` points down (docs/ARCHITECTURE.md's map)."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 're3_jax'
# Lowest first; a sub-package may import its own modules and those of lower layers.
LAYERS = ('core', 'datasets', 'model', 'media', 'tracking', 'input', 'evaluation', 'training', 'benchmarks')
TESTING = 'testing'  # test helpers: imported by tests, entry points and the benchmarks only
MAY_IMPORT_TESTING = ('benchmarks',)  # the input benchmark measures a fake VID download


def _layer(module: str) -> str:
  """'re3_jax.core.boxes' -> 'core'; a top-level module (an entry point) -> 'entry'."""
  parts = module.split('.')
  if len(parts) >= 2 and parts[1] in LAYERS + (TESTING,):
    return parts[1]
  return 'entry'


def _is_main_block(node) -> bool:
  """``if __name__ == '__main__':``"""
  test = getattr(node, 'test', None)
  return (isinstance(node, ast.If) and isinstance(test, ast.Compare)
          and getattr(test.left, 'id', None) == '__name__'
          and getattr(test.comparators[0], 'value', None) == '__main__')


def _imports(path: pathlib.Path, main_block: bool = False) -> set[str]:
  """The re3_jax modules that `path` imports (anywhere in the file, lazily or not), outside
  its ``if __name__ == '__main__':`` block, or (`main_block`) inside it."""
  tree = ast.parse(path.read_text())
  mains = [node for node in tree.body if _is_main_block(node)]
  inside = {id(n) for block in mains for n in ast.walk(block)}
  found = set()
  for node in ast.walk(tree):
    if (id(node) in inside) != main_block:
      continue
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('re3_jax'):
      found.update(f'{node.module}.{a.name}' for a in node.names)
    elif isinstance(node, ast.Import):
      found.update(a.name for a in node.names if a.name.startswith('re3_jax'))
  return found


def _modules():
  for path in sorted(PACKAGE.rglob('*.py')):
    yield '.'.join(('re3_jax',) + path.relative_to(PACKAGE).with_suffix('').parts), path


@pytest.mark.parametrize('name, path', list(_modules()), ids=lambda x: str(x))
def test_imports_point_down(name, path):
  mine = _layer(name)
  for imported in _imports(path):
    theirs = _layer(imported)
    if mine == 'entry':  # a command line may use anything but another command line
      assert theirs != 'entry' or imported == 're3_jax.cli', f'{name} imports {imported}'
      continue
    assert theirs != 'entry', f'{name} imports {imported}'
    assert theirs != TESTING or mine in MAY_IMPORT_TESTING + (TESTING,), (
        f'{name} imports {imported}')
    if TESTING not in (mine, theirs):
      assert LAYERS.index(theirs) <= LAYERS.index(mine), (
          f'{name} ({mine}) imports {imported} ({theirs}), a higher layer')


@pytest.mark.parametrize('name, path', list(_modules()), ids=lambda x: str(x))
def test_a_modules_command_line_block_imports_only_the_cli_helpers(name, path):
  # `python -m re3_jax.input.builders.build`: a library module's own command line runs the way
  # every command line runs (`cli.run`), and imports nothing else above its layer.
  mine = _layer(name)
  for imported in _imports(path, main_block=True):
    theirs = _layer(imported)
    assert imported == 're3_jax.cli' or mine == 'entry' or (
        theirs in LAYERS and LAYERS.index(theirs) <= LAYERS.index(mine)), (
            f'{name} imports {imported} in its __main__ block')


def test_the_layers_are_the_folders():
  folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / '__init__.py').exists()}
  assert folders == set(LAYERS) | {TESTING}


def test_tests_import_no_command_line():
  """Entry points define their flags on import (absl's global FLAGS): two in one process clash
  (--config, --seed, ...). Tests run them as programs; what they test in-process is library."""
  tests = pathlib.Path(__file__).resolve().parent
  entry = {p.stem for p in PACKAGE.glob('*.py')} - {'__init__', 'cli'}
  for path in sorted(tests.rglob('*.py')):
    imported = {m.split('.')[1] for m in _imports(path) if m.count('.') >= 1}
    assert not imported & entry, f'{path.relative_to(tests)} imports {sorted(imported & entry)}'
