"""alov300: ALOV300++ tracks (one per video), boxes interpolated between annotations."""

from __future__ import annotations

import functools
import pathlib

import tensorflow_datasets as tfds

from re3_jax.datasets import downloads
from re3_jax.input.builders import common

FRAMES_FOLDER = 'imagedata++'
ANNOTATIONS_FOLDER = 'alov300++_rectangleAnnotation_full'


class Builder(common.ArrayRecordByDefault, tfds.core.GeneratorBasedBuilder):
  """ALOV300++ tracks: frames (original JPEG bytes), boxes, flags.

  Its videos overlap OTB and VOT: leave it out for models evaluated there.
  """

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release: one example per video, linear '
                            'interpolation between annotated frames.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download the ALOV300++ frames (alov300++_frames.zip) and the rectangle
  annotations (alov300++GT_txtFiles.zip) from http://alov300pp.joomlafree.it/
  (dataset resources) and extract both into manual_dir, so that these exist:

    manual_dir/imagedata++/01-Light/01-Light_video00001/00000001.jpg ...
    manual_dir/alov300++_rectangleAnnotation_full/01-Light/01-Light_video00001.ann

  Note: ALOV300++ videos overlap OTB and VOT; do not train on it for those
  benchmarks (see README.md).
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=common.track_features(),
        homepage='http://alov300pp.joomlafree.it/',
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = downloads.resolve_root(dl_manager.manual_dir, [],
                                [FRAMES_FOLDER, ANNOTATIONS_FOLDER], 'ALOV300++')
    return {'train': self._generate_examples(root / FRAMES_FOLDER, root / ANNOTATIONS_FOLDER)}

  def _generate_examples(self, frames_root: pathlib.Path, ann_root: pathlib.Path):
    load = functools.partial(downloads.load_alov_video, frames_root, ann_root)
    videos = downloads.alov_videos(frames_root, ann_root)
    yield from common.generate_tracks(self, 'train', load, videos)
