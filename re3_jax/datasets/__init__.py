"""Datasets on disk, read as they lie: every reader and layout of the package.

The lowest layer above `core` (it imports only `core`): the evaluation, the training input
and the TFDS builders all read datasets through it.

- `sequences`: a sequence of frames and boxes (OTB, VOT, GOT-10k folders; lazy frames).
- `dataset_roots`: the benchmark roots (OTB, VOT, GOT-10k, LaSOT with its absence flags),
  `toolkit_roots`: UAV123, DTB70, TColor-128 and NfS through the got10k toolkit,
  `vid_roots`: ImageNet VID validation as sequences.
- `layouts`: `LAYOUTS`, the one table of ``KIND:ROOT`` layouts, and the specs over it
  (`open_dataset`): an entry is both an evaluation dataset and a training source.
- `downloads`: the layouts of the training downloads (ImageNet VID, ALOV300++, ImageNet
  DET) that the TFDS builders read; `annotations`: their annotation parsers (VOC xml,
  ALOV .ann, JPEG checks); `tracks`: tracks assembled from per-frame annotations.
"""
