# Lever (not a Table 1 row): Supervised whose classification losses leave
# out the background samples it already scores as a cell (cell probability
# >= 0.5, its own, detached): anchors and RoIs over cells that the weak
# labels missed are not trained as background (mmsissi's
# MissingLabelCrossEntropyLoss, in the spirit of the Background
# Recalibration Loss for missing annotations). Trained from scratch, no
# label correction; the benchmark's row `supervised_missing_ce`.
_base_ = '../supervised.py'

ignore_thr = 0.5
model = dict(
    rpn_head=dict(loss_cls=dict(type='MissingLabelCrossEntropyLoss',
                                ignore_thr=ignore_thr)),
    roi_head=dict(bbox_head=dict(loss_cls=dict(
        type='MissingLabelCrossEntropyLoss', ignore_thr=ignore_thr))))
