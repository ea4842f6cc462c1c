# Lever (not a Table 1 row): the Baseline relabelled by an exponential
# moving average of the weights (mmengine's EMAHook, BatchNorm buffers
# averaged too), a labeller that does not chase its own labels. Momentum
# 0.004 per iteration: a time constant of ~250 iterations (4-5 epochs of
# 56, 2-3 benchmark epochs). Note: with an EMAHook, mmengine saves and
# validates the averaged weights, so this row is also *tested* with the
# EMA (the other rows with the trained weights).
_base_ = '../baseline.py'

custom_hooks = [
    {{_base_.val_loss_start}},
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize=False,
         labeller='ema'),
    dict(type='EMAHook', momentum=0.004, update_buffers=True),
]
