"""imagenet_det: ImageNet DET images with their object boxes (for synthetic sequences)."""

from __future__ import annotations

import functools
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from re3_jax.datasets import annotations
from re3_jax.datasets import downloads
from re3_jax.input.builders import common

SPLITS = ('train', 'val')


class Builder(common.ArrayRecordByDefault, tfds.core.GeneratorBasedBuilder):
  """ImageNet DET images (original JPEG bytes) with boxes of >= 1% of the image."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release: boxes under 1% of the image area dropped.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download the ImageNet object detection data from https://image-net.org/
  (an ImageNet account is needed): ILSVRC2017_DET.tar.gz, which extracts to
  ILSVRC/, or ILSVRC2015_DET.tar.gz, which extracts to ILSVRC2015/. Extract it
  into manual_dir, so that these folders exist (or ILSVRC2015/ instead of ILSVRC/):

    manual_dir/ILSVRC/Data/DET/train/ILSVRC2013_train/n01440764/n01440764_10026.JPEG ...
    manual_dir/ILSVRC/Data/DET/val/ILSVRC2012_val_00000001.JPEG ...
    manual_dir/ILSVRC/Annotations/DET/{train,val}/...  (one .xml per image)

  manual_dir may also be the ILSVRC (or ILSVRC2015) folder itself.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(None, None, 3), encoding_format='jpeg'),
            'image_id': tfds.features.Text(),
            'height': tfds.features.Scalar(np.int32),
            'width': tfds.features.Scalar(np.int32),
            'boxes': tfds.features.Tensor(shape=(None, 4), dtype=np.float32),
            'labels': tfds.features.Sequence(tfds.features.Text()),
        }),
        homepage='https://image-net.org/challenges/LSVRC/2017/',
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = downloads.resolve_root(dl_manager.manual_dir, ['ILSVRC', 'ILSVRC2015'],
                                ['Data/DET', 'Annotations/DET'], 'ImageNet DET')
    return common.split_generators(
        self, root / 'Data/DET', root / 'Annotations/DET', SPLITS, 'ImageNet DET')

  def _generate_examples(self, data_dir: pathlib.Path, ann_dir: pathlib.Path, split: str):
    skips = annotations.SkipCounter()
    count = 0
    load = functools.partial(downloads.load_det_image, data_dir, ann_dir)
    for image, image_skips in downloads.threaded_map(
        load, downloads.det_images(data_dir), workers=8, lookahead=32):
      skips.update(image_skips)
      if image is None:
        continue
      count += 1
      yield image.image_id, {
          'image': image.data,
          'image_id': image.image_id,
          'height': np.int32(image.height),
          'width': np.int32(image.width),
          'boxes': image.boxes,
          'labels': image.labels,
      }
    common.record_skips(self, split, skips, count)
