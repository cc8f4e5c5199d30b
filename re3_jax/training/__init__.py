"""Training: crop-window jitter (`jitter`), the unroll as training runs it (`unroll`), the
jitted train step (`train_step`), the curriculum's stages and settings (`stages`) and its
advance rule as it runs (`curriculum`), what a run keeps in its workdir (`records`), what it
validates on (`validation`), the loop with checkpoints and resume (`loop`) and the curves it
logs, plotted (`curves`). Imports the layers below it: core, datasets, model, media,
tracking, input, evaluation."""
