#!/bin/sh
# Regenerates docs/track_demo.png: three objects of OTB "Crossing" tracked by
# `python -m re3_jax.track`, frames 1, 41, 81 and 120 of its GIF in a 2x2 sheet.
#   sh docs/track_demo.sh [CHECKPOINT_DIR [SEQUENCES_DIR]]
# CHECKPOINT_DIR: default (or `shipped`): the model shipped with the package; e.g. a
# training run's WORKDIR/checkpoints; `--tracker.random_model=tiny` instead gives random weights.
# SEQUENCES_DIR defaults to ../shared/sequences.
set -e
cd "$(dirname "$0")/.."
ckpt=${1:-shipped}
seqs=${2:-../shared/sequences}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case "$ckpt" in
  shipped) model="" ;;
  --tracker.random_model=*) model="$ckpt" ;;
  *) model="--tracker.checkpoint=$ckpt" ;;
esac
python3 -m re3_jax.track $model --input="$seqs/otb_crossing/img" \
  --box=204,150,221,200 --box=40,65,56,100 --box=0,117,32,146 --output="$tmp/crossing.gif"
python3 - "$tmp/crossing.gif" docs/track_demo.png <<'EOF'
import sys
import numpy as np
from PIL import Image
gif = Image.open(sys.argv[1])
frames = []
for k in (0, 40, 80, gif.n_frames - 1):
  gif.seek(k)
  frames.append(np.asarray(gif.convert('RGB')))
sheet = np.concatenate([np.concatenate(frames[:2], 1), np.concatenate(frames[2:], 1)], 0)
Image.fromarray(sheet).quantize(256).save(sys.argv[2], optimize=True)
EOF
ls -l docs/track_demo.png
