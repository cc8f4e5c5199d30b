"""imagenet_vid: ImageNet VID (ILSVRC2015) object tracks, one example per track."""

from __future__ import annotations

import functools
import pathlib

import tensorflow_datasets as tfds

from re3_jax.datasets import downloads
from re3_jax.input.builders import common

SPLITS = ('train', 'val')


class Builder(common.ArrayRecordByDefault, tfds.core.GeneratorBasedBuilder):
  """ImageNet VID object tracks: frames (original JPEG bytes), boxes, flags."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release: one example per object track.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download ILSVRC2015_VID.tar.gz (about 86 GB) from https://image-net.org/
  (ILSVRC2015, "Object detection from video"; an ImageNet account is needed)
  and extract it into manual_dir, so that these folders exist:

    manual_dir/ILSVRC2015/Data/VID/train/ILSVRC2015_VID_train_0000/...
    manual_dir/ILSVRC2015/Data/VID/val/ILSVRC2015_val_00000000/...
    manual_dir/ILSVRC2015/Annotations/VID/{train,val}/...

  manual_dir may also be the ILSVRC2015 folder itself. Data/VID/snippets,
  test and ImageSets are not read.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=common.track_features(),
        homepage='https://image-net.org/challenges/LSVRC/2015/',
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = downloads.resolve_root(dl_manager.manual_dir, ['ILSVRC2015'],
                                ['Data/VID', 'Annotations/VID'], 'ImageNet VID')
    return common.split_generators(
        self, root / 'Data/VID', root / 'Annotations/VID', SPLITS, 'ImageNet VID')

  def _generate_examples(self, data_dir: pathlib.Path, ann_dir: pathlib.Path, split: str):
    load = functools.partial(downloads.load_vid_video, data_dir, ann_dir)
    yield from common.generate_tracks(self, split, load, downloads.vid_videos(data_dir, ann_dir))
