# Table 1, "A+SISSI(S)": ADELE start + pseudo labels + strong-blur synthesis
# (the paper's best row). `python tools/train.py configs/sissi/a_sissi_s.py`
_base_ = './baseline.py'

custom_hooks = [
    dict(type='ADELEHook', threshold=0.9, scale={{_base_.img_scale}},
         max_start_epoch=30),
    dict(type='PseudoLabelHook', scale={{_base_.img_scale}},
         synthesize='strong'),
]
