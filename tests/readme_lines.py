"""The READMEs' commands that tests run as written (README.md's bash blocks and the areas')."""

from __future__ import annotations

import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]
# The READMEs whose commands tests run as written: the front door and the areas' details.
READMES = ('README.md', 're3_jax/tracking/README.md', 're3_jax/training/README.md',
           're3_jax/evaluation/README.md', 're3_jax/model/README.md')


def readme_command_lines(readme: str = 'README.md') -> list[str]:
  """The ``python3 -m`` command lines of one README's bash blocks (continued lines joined)."""
  text = (REPO / readme).read_text()
  blocks = [part.split('```', 1)[0] for part in text.split('```bash\n')[1:]]
  lines = [line for block in blocks for line in block.replace('\\\n', ' ').splitlines()]
  return [' '.join(line.split()) for line in lines if line.startswith('python3 -m ')]
