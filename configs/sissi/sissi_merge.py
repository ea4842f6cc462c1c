# The recommended row (not a Table 1 row; the six Table 1 rows keep the
# paper's definitions): the Baseline's mixed batches and validation-loss
# start, with three options of its hooks, chosen on the benchmarks'
# validation splits (docs/results/noisy_labels/README.md; issue 16):
# - no rewind at the start (restore_best=False): correction goes on from
#   the weights trained so far; the paper's rewind to the best source
#   validation loss cost 9.5 test AP50 on Usiigaci (quick, seed 0);
# - update='merge': the initial (weak) labels are kept; a fused box that
#   matches none of them (IoU < 0.4) is added from score 0.5 ...
# - ... and fused boxes of score 0.2-0.5 that match none become ignore
#   regions (iscrowd; the assigners' ignore_iof_thr 0.5), so cells the weak
#   labels missed are less often trained as background.
# On Usiigaci (quick, seed 0) it equals Supervised (noisy labels), test
# AP50 23.2 vs 21.8-23.3 over 2 seeds: no gain yet; say so, measure more.
# Identical to levers/baseline_merge_band_norewind.py (tested).
_base_ = './baseline.py'

model = dict(train_cfg=dict(rpn=dict(assigner=dict(ignore_iof_thr=0.5)),
                            rcnn=dict(assigner=dict(ignore_iof_thr=0.5))))

custom_hooks = [
    dict(type='ValLossStartHook',
         patience=3,
         max_start_epoch={{_base_.max_start_epoch}},
         dataloader={{_base_.source_val_dataloader}},
         restore_best=False),
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize=False,
         update='merge',
         merge_cfg=dict(match_iou=0.4, add_score=0.2),
         ignore_band=(0.2, 0.5)),
]
