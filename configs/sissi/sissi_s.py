# Table 1, "SISSI(S)": the Baseline + synthetic-like images with the strong
# blur (65x65, sigma 12: the paper's "(12, 32)").
_base_ = './baseline.py'

custom_hooks = [
    {{_base_.val_loss_start}},
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize='strong'),
]
