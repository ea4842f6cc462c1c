# Table 1, "A+SISSI(W)": ADELE start + pseudo labels + weak-blur synthesis.
_base_ = './baseline.py'

custom_hooks = [
    dict(type='ADELEHook', threshold=0.9, scale={{_base_.img_scale}},
         max_start_epoch=30),
    dict(type='PseudoLabelHook', scale={{_base_.img_scale}},
         synthesize='weak'),
]
