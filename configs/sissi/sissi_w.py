# Table 1, "SISSI(W)": the Baseline + label correction (20-view TTA + WBF
# pseudo labels every epoch) + synthetic-like images with a weak blur.
# Correction starts at a fixed epoch here; the validation-loss criterion
# (best source validation loss) replaces it when it lands.
_base_ = './baseline.py'

custom_hooks = [
    dict(
        type='PseudoLabelHook',
        start_epoch=10,
        scale=(512, 512),
        score_thr=0.5,
        synthesize='weak'),
]
