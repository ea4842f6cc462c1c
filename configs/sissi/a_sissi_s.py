# Table 1, "A+SISSI(S)": ADELE start + pseudo labels + strong-blur synthesis
# (the paper's best row). `python tools/train.py configs/sissi/a_sissi_s.py`
_base_ = './plain_a.py'

custom_hooks = [
    {{_base_.adele_start}},
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize='strong'),
]
