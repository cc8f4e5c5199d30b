"""Training: crop-window jitter (`jitter`), the jitted train step (`train_step`), the unroll
curriculum (`curriculum`) and the loop with checkpoints and resume (`loop`). Imports the
layers below it: core, model, tracking, input, evaluation."""
