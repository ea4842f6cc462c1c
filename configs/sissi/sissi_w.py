# Table 1, "SISSI(W)": the Baseline + synthetic-like images with the weak
# blur (21x21) made from the pseudo labels.
_base_ = './baseline.py'

custom_hooks = [
    {{_base_.val_loss_start}},
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize='weak'),
]
