# Refit (not a Table 1 row): the Supervised row trained from scratch on the
# labels a correction run made (the last file of its label store,
# <work_dir>/labels/epoch_<k>.json), with their ignore regions (iscrowd)
# honoured by the assigners (ignore_iof_thr 0.5). Label correction used as
# a labelling step: the corrected labels train a fresh detector, so no
# weight has fitted the initial (weak) labels. Point the target dataset at
# the label file (`tools/sissi.py refit` does), e.g.
#   --cfg-options train_dataloader.dataset.datasets.0.ann_file=FILE
# The benchmark's `refit_<row>` rows (benchmarks/noisy/configs.py).
_base_ = './supervised.py'

model = dict(train_cfg=dict(rpn=dict(assigner=dict(ignore_iof_thr=0.5)),
                            rcnn=dict(assigner=dict(ignore_iof_thr=0.5))))
