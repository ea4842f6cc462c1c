# Table 1, "Plain A": label correction started by ADELE (end of early
# learning on the AP50-vs-weak-labels curve), pseudo labels only, no
# synthetic-like images.
_base_ = './baseline.py'

custom_hooks = [
    dict(type='ADELEHook', threshold=0.9, scale={{_base_.img_scale}},
         max_start_epoch=30),
    dict(type='PseudoLabelHook', scale={{_base_.img_scale}},
         synthesize=False),
]
