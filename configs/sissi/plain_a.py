# Table 1, "Plain A": the Baseline with ADELE deciding when to start
# (the end of early learning on the AP50-vs-initial-weak-labels curve)
# instead of the validation loss. No synthetic-like images.
_base_ = './baseline.py'

adele_start = dict(
    type='ADELEHook',
    threshold=0.9,
    warmup_epochs={{_base_.warmup_epochs}},  # out of the fit
    max_start_epoch={{_base_.max_start_epoch}},
    dataloader={{_base_.adele_dataloader}})

custom_hooks = [
    adele_start,
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize=False),
]
