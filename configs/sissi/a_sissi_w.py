# Table 1, "A+SISSI(W)": ADELE start + pseudo labels + weak-blur synthesis.
_base_ = './plain_a.py'

custom_hooks = [
    {{_base_.adele_start}},
    dict(type='PseudoLabelHook', scale={{_base_.img_scale}},
         tta_cfg={{_base_.pseudo_label_tta}}, synthesize='weak'),
]
