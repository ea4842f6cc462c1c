# Table 1, "SISSI(S)": as SISSI(W), with the strong blur (65x65, sigma 12).
_base_ = './sissi_w.py'

custom_hooks = [
    dict(
        type='PseudoLabelHook',
        start_epoch=10,
        scale=(512, 512),
        score_thr=0.5,
        synthesize='strong'),
]
