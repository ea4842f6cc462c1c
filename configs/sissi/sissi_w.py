# Table 1, "SISSI(W)": the Baseline + label correction (20-view TTA + WBF
# pseudo labels every epoch) + synthetic-like images with a weak blur,
# starting once the source validation loss stops improving.
_base_ = './baseline.py'

custom_hooks = [
    dict(type='ValLossStartHook', patience=3, max_start_epoch=30,
         dataloader={{_base_.source_val_dataloader}}),
    dict(type='PseudoLabelHook', scale={{_base_.img_scale}},
         synthesize='weak'),
]
