# Table 1, "SISSI(S)": as SISSI(W), with the strong blur (65x65, sigma 12).
_base_ = './baseline.py'

custom_hooks = [
    dict(type='ValLossStartHook', patience=3, max_start_epoch=30,
         dataloader={{_base_.source_val_dataloader}}),
    dict(type='PseudoLabelHook', scale={{_base_.img_scale}},
         synthesize='strong'),
]
