# Lever (not a Table 1 row): Supervised whose classification losses leave
# out the background samples it already scores as a cell (cell probability
# >= 0.7, its own, detached), after the warm-up (from iteration 100; an
# untrained head scores everything 0.5): anchors and RoIs over cells that
# the weak labels missed are not trained as background (mmsissi's
# MissingLabelCrossEntropyLoss, in the spirit of the Background
# Recalibration Loss for missing annotations). Trained from scratch, no
# label correction; the benchmark's row `supervised_missing_ce`.
_base_ = '../supervised.py'

missing_ce = dict(type='MissingLabelCrossEntropyLoss', ignore_thr=0.7,
                  begin_iter={{_base_.warmup_iters}})
model = dict(rpn_head=dict(loss_cls=missing_ce),
             roi_head=dict(bbox_head=dict(loss_cls=missing_ce)))
