# Lever (not a Table 1 row): SISSI(S) with the strong blur scaled to the
# cells of each image ('auto': sigma 12/64 of the median labelled box
# side, exactly the paper's 'strong' on 64 px fibroblasts).
_base_ = '../sissi_s.py'

custom_hooks = [
    {{_base_.val_loss_start}},
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize='auto'),
]
