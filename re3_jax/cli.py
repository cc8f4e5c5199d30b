"""What every ``python -m re3_jax.*`` command line shares."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shlex
import signal
import sys
import traceback
import types
import typing
from typing import Any, Callable, TypeVar

from absl import app
from absl import flags
from absl import logging

from re3_jax.core import compilation_cache
from re3_jax.core import signals
from re3_jax.tracking import tracker_config

T = TypeVar('T')


def quiet_library_logs(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Library log records (JAX, orbax, Grain, absl) at WARNING unless the user asked.

  A command prints its own progress lines; orbax alone writes a dozen INFO
  records per checkpoint (one of ~2,000 characters). ``--verbosity=0`` (or
  ``-v 0``; absl's flag) shows INFO records again, ``--verbosity=1`` debug ones.
  Call it first thing in ``main``, before JAX starts its backends.
  """
  if not flag_values['verbosity'].present:
    logging.set_verbosity(logging.WARNING)


# ---------------------------------------------------------------------------
# Settings as flags: every field of a tree of frozen dataclasses is a flag.


def define_config_flags(default: T, name: str = 'config',
                        flag_values: flags.FlagValues = flags.FLAGS, *,
                        exclude: tuple[str, ...] = (),
                        moved: dict[str, tuple[str, Callable[[Any], Any]]] | None = None,
                        renamed: dict[str, str] | None = None) -> Callable[[], T]:
  """Defines ``--NAME.a.b`` for every field of the dataclass tree `default`.

  A field whose default is itself a dataclass is a branch (its fields are
  flags one level down); every other field is a flag of its annotated type:
  ``bool`` (``--NAME.x`` / ``--noNAME.x``), ``int``, ``float``, ``str``, a
  tuple of numbers written ``1,2``, any of them ``| None`` (the text ``None``
  for None; a None default is left out of `flags_into_string`), or any type
  whose field carries ``metadata={'parse': text -> value, 'format': value ->
  text}`` (how the library writes it as text). The flag's default is the
  field's default and its help the field's entry in the dataclass's
  ``Attributes:`` docstring, so the dataclasses are the one source of the
  settings. `flags_into_string` writes the flags back as a flagfile that
  rebuilds the same config.

  Args:
    default: the config the flags start from (a frozen dataclass instance).
    name: the flags' prefix.
    flag_values: where to define them.
    exclude: top-level fields given no flag (the caller sets them).
    moved: old field path (``'crop_size'``) -> (its path now, ``'arch.crop_size'``;
      the old value -> the new one): still read as flags of their own
      (``--NAME.crop_size``) into the field's new place, so that flagfiles
      written before the move (a training run's ``flags.txt``) still rerun;
      giving both spellings with different values is an error naming both.
    renamed: flat flags of old (``'config'``) -> their field path now
      (``'random_model'``): not defined; `suggest_config_flag` names the new
      spelling when one is given (fields of the same last name are found
      without this).

  Returns:
    A function that, after flag parsing, returns `default` with every flag
    given on the command line or in a flagfile applied; the dataclasses'
    own checks run on the result (a `ValueError` names the bad setting).
  """
  leaves = {}
  for path, field, value, owner in _config_leaves(default, (name,)):
    if path[1] in exclude:
      continue
    flag_name = '.'.join(path)
    hint = typing.get_type_hints(owner)[field.name]
    _define_field_flag(flag_name, owner, field, hint, value, _field_help(owner, field.name),
                       flag_values)
    leaves[path[1:]] = (flag_name, owner, field, hint)
  aliases = []
  for old, (to, convert) in (moved or {}).items():
    target = tuple(to.split('.'))
    flag_name, owner, field, hint = leaves[target]
    alias = f'{name}.{old}'
    _define_field_flag(alias, owner, field, hint, None,
                       f'The old spelling of --{flag_name} (read so that older runs\' '
                       'flagfiles rerun; write the new one).', flag_values)
    aliases.append((alias, target, convert))
  for old, path in (renamed or {}).items():
    _RENAMED[(id(flag_values), old)] = f'{name}.{path}'

  def config() -> T:
    changes = {path: flag_values[flag].value for path, (flag, *_) in leaves.items()
               if flag_values[flag].present}
    for alias, target, convert in aliases:
      if not flag_values[alias].present:
        continue
      value = convert(flag_values[alias].value)
      if value is None:  # the old spelling of "unset"
        continue
      new = leaves[target][0]
      if target in changes and changes[target] != value:
        raise ValueError(f'--{alias}={flag_values[alias].value} (the old spelling) and '
                         f'--{new}={flag_values[new].value} disagree: give --{new} alone')
      changes[target] = value
    return _replace_paths(default, changes)
  return config


_RENAMED: dict[tuple[int, str], str] = {}  # (id of a FlagValues, old flat name) -> new name


def _define_field_flag(flag_name, owner, field, hint, default, help_text, flag_values) -> None:
  if hint in (bool, bool | None):  # --x / --nox (a None default: left out of a flagfile)
    flags.DEFINE_bool(flag_name, default, help_text, flag_values)
  else:
    parser, serializer = _field_codec(owner, field, hint)
    flags.DEFINE(parser, flag_name, default, help_text, flag_values, serializer)


def suggest_config_flag(error: flags.UnrecognizedFlagError,
                        flag_values: flags.FlagValues = flags.FLAGS) -> str:
  """The error, plus the defined flags whose last part is its flag's last part.

  ``--learning_rate`` -> ``... did you mean --config.optim.learning_rate?``
  """
  renamed = _RENAMED.get((id(flag_values), error.flagname))
  if renamed is not None:
    return f'{error}; it is --{renamed} now'
  wanted = error.flagname.split('.')[-1]
  if wanted.startswith('no') and wanted not in flag_values:
    wanted = wanted[2:]
  names = sorted(n for n in flag_values if n.split('.')[-1] == wanted and n != error.flagname)
  if not names:
    return str(error)
  return f'{error}; did you mean ' + ' or '.join(f'--{n}' for n in names) + '?'


def _config_leaves(config, path):
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if dataclasses.is_dataclass(value):
      yield from _config_leaves(value, path + (field.name,))
    else:
      yield path + (field.name,), field, value, type(config)


def _replace_paths(config, changes: dict[tuple[str, ...], Any]):
  """`config` with ``changes[('a', 'b')]`` at ``config.a.b``, innermost first."""
  mine = {path[0]: value for path, value in changes.items() if len(path) == 1}
  for field in {path[0] for path in changes if len(path) > 1}:
    inner = {path[1:]: value for path, value in changes.items()
             if len(path) > 1 and path[0] == field}
    mine[field] = _replace_paths(getattr(config, field), inner)
  return dataclasses.replace(config, **mine) if mine else config


class _TextParser(flags.ArgumentParser):
  """A flag parser from a text -> value function (a ValueError is a flag error)."""

  def __init__(self, parse: Callable[[str], Any], type_name: str):
    self._parse = parse
    self._type_name = type_name

  def parse(self, argument):
    return self._parse(argument) if isinstance(argument, str) else argument

  def flag_type(self) -> str:
    return self._type_name


class _TextSerializer(flags.ArgumentSerializer):

  def __init__(self, format_fn: Callable[[Any], str]):
    self._format = format_fn

  def serialize(self, value) -> str:
    return self._format(value)


def _field_codec(owner: type, field: dataclasses.Field, hint):
  """(absl parser, serializer) for one dataclass field, from its metadata or type `hint`."""
  if 'parse' in field.metadata:
    return (_TextParser(field.metadata['parse'], field.name),
            _TextSerializer(field.metadata['format']))
  if hint in (int, float):
    parser = flags.IntegerParser() if hint is int else flags.FloatParser()
    return parser, flags.ArgumentSerializer()
  if hint is str:
    return flags.ArgumentParser(), flags.ArgumentSerializer()
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
    inner = next(a for a in args if a is not type(None))  # T | None: T, or the text None
    parser, serializer = _field_codec(owner, field, inner)

    def parse(text: str):
      return None if text == 'None' else parser.parse(text)
    return (_TextParser(parse, f'{parser.flag_type()} or None'),
            _TextSerializer(lambda value: 'None' if value is None else serializer.serialize(value)))
  if origin is tuple and args and all(a in (int, float, Ellipsis) for a in args):
    item = args[0]
    length = None if Ellipsis in args else len(args)

    def parse(text: str):
      parts = [part.strip() for part in text.split(',') if part.strip()]
      if length is not None and len(parts) != length:
        raise ValueError(f'expected {length} comma-separated numbers, got {text!r}')
      try:
        return tuple(item(part) for part in parts)
      except ValueError:
        raise ValueError(f'expected comma-separated {item.__name__}s, got {text!r}') from None
    return (_TextParser(parse, f'{item.__name__} list'),
            _TextSerializer(lambda value: ','.join(repr(v) for v in value)))
  raise TypeError(f'{owner.__name__}.{field.name}: no flag for type {hint}; give the field '
                  "metadata={'parse': ..., 'format': ...}")


def _field_help(owner: type, field: str) -> str:
  """The field's entry in ``owner``'s ``Attributes:`` docstring section, joined to one line."""
  lines = (owner.__doc__ or '').splitlines()
  try:
    start = next(i for i, line in enumerate(lines) if line.strip() == 'Attributes:')
  except StopIteration:
    return field
  found, indent = [], None
  for line in lines[start + 1:]:
    if not line.strip():
      if found:
        break
      continue
    depth = len(line) - len(line.lstrip())
    if found and depth > indent:
      found.append(line.strip())
    elif found:
      break
    elif line.strip().startswith(f'{field}:'):
      indent = depth
      found.append(line.strip()[len(field) + 1:].strip())
  return ' '.join(found) or field


def parse_flags(argv: list[str]) -> list[str]:
  """`app.run`'s flag parser, with `suggest_config_flag` for an unknown flag; a bad flag is
  one ``NAME: error:`` line and status 1, like every other mistake (`run`)."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = suggest_config_flag(e) if isinstance(e, flags.UnrecognizedFlagError) else e
    print(f'{_program_name()}: error: {message} (--helpshort lists the flags)', file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------
# One way to run a command line, one error style.

_TRACEBACK = flags.DEFINE_bool('traceback', False,
                               'On an error, print the Python traceback too (for a bug report).')
_COMPILATION_CACHE = flags.DEFINE_string(
    'compilation_cache', None, "JAX's persistent compilation cache: a folder, or 'off' (default: "
    f'${compilation_cache.ENV}, else {compilation_cache.default_dir()}; see '
    're3_jax.core.compilation_cache). A second run then skips most of the compiling.')


Terminated = signals.Terminated  # SIGTERM, raised in the main thread (`core.signals`)


def define_tracker_flags(flag_values: flags.FlagValues = flags.FLAGS
                         ) -> Callable[[], tracker_config.TrackerConfig]:
  """``--tracker.*``: the flags of `tracker_config.TrackerConfig`, the programs' tracker.

  ``--tracker.checkpoint=DIR_OR_SHIPPED_NAME``, ``--tracker.random_model=NAME``,
  ``--tracker.seed``, ``--tracker.precision``, ``--tracker.reset_interval``; its
  ``compilation_cache`` is the program's ``--compilation_cache`` (one setting of the
  process: every program compiles, not only the tracker's). The flat spellings of old
  (``--checkpoint``, ``--config``, ``--precision``, ``--seed``, ``--reset_interval``) are
  errors naming these (`suggest_config_flag`).

  Returns:
    A function that, after flag parsing, returns the `TrackerConfig` the flags describe
    (a `ValueError` names a setting it refuses).
  """
  get = define_config_flags(tracker_config.TrackerConfig(), 'tracker', flag_values,
                            exclude=('compilation_cache',), renamed={'config': 'random_model'})

  def config() -> tracker_config.TrackerConfig:
    cache = flag_values['compilation_cache'].value if 'compilation_cache' in flag_values else None
    return get().replace(compilation_cache=cache)
  return config


def run(main: Callable[[list[str]], Any], *, takes_arguments: bool = False) -> None:
  """Runs ``main(argv)`` as ``python -m re3_jax.NAME``: the way every command line runs.

  Flags are parsed by `parse_flags` (an unknown flag names itself and its
  ``--config.*`` namesake); library logs are quieted (`quiet_library_logs`);
  positional arguments are a usage error unless `takes_arguments`. A user's
  mistake that the library reports as a ``ValueError`` or ``OSError`` (a bad
  box, a missing or unreadable file, a checkpoint of another model) ends the
  program with one line, ``re3_jax.NAME: error: MESSAGE``, and status 1, not
  a traceback (``--traceback`` adds it). Ctrl-C (SIGINT) ends it with status
  130; SIGTERM unwinds the same way (`Terminated`: partial outputs are
  deleted) and ends it with status 143 (128 + 15). A signal whose exception was swallowed
  (raised inside JAX's gc callback) still ends it so: `core.signals` records it, an output
  is not moved into place after it, and it is raised when ``main`` returns. What ``main`` returns is
  the exit status (None: 0). JAX's persistent compilation cache is on
  (`compilation_cache.enable`; ``--compilation_cache=off`` turns it off).
  """

  def wrapped(argv):
    quiet_library_logs()
    if _COMPILATION_CACHE.value is not None:  # the environment: what the tracker reads too
      os.environ[compilation_cache.ENV] = _COMPILATION_CACHE.value
    compilation_cache.enable()
    name = _program_name()
    if len(argv) > 1 and not takes_arguments:
      raise app.UsageError(f'unexpected arguments {argv[1:]}')
    restore = signals.install()
    try:
      status = main(argv)
      signals.check()  # a signal swallowed on the way (in JAX's gc callback) ends it here
      return status
    except KeyboardInterrupt as e:
      if isinstance(e, Terminated):
        print(f'{name}: terminated (SIGTERM)', file=sys.stderr)
        return 128 + signal.SIGTERM
      print(f'{name}: interrupted', file=sys.stderr)
      return 128 + signal.SIGINT
    except (ValueError, OSError) as e:
      if _TRACEBACK.value:
        traceback.print_exc()
      print(f'{name}: error: {e}', file=sys.stderr)
      return 1
    finally:
      restore()

  app.run(wrapped, flags_parser=parse_flags)


def command_line() -> str:
  """The running command as a shell line: ``/usr/bin/python3 -m re3_jax.evaluate --out=...``
  (``sys.argv[0]`` is the module's file under ``-m``), for the records a command writes."""
  return shlex.join([sys.executable, '-m', _program_name()] + sys.argv[1:])


def _program_name() -> str:
  """``re3_jax.track`` for ``python -m re3_jax.track``."""
  main = sys.modules.get('__main__')
  spec = getattr(main, '__spec__', None)
  return spec.name if spec is not None else pathlib.Path(sys.argv[0]).stem
