# Table 1, "A+SISSI(W)": ADELE start + pseudo labels + weak-blur synthesis.
_base_ = './plain_a.py'

custom_hooks = [
    {{_base_.adele_start}},
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize='weak'),
]
