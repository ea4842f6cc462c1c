# "SISSI on top of any detector": the A+SISSI(S) row of Table 1 with
# RetinaNet R50-FPN (mmdet's _base_ model) instead of Faster R-CNN. Data,
# schedule, TTA and hooks are those of the Table 1 rows; only the model
# (and its COCO checkpoint) change. `python tools/train.py
# configs/detectors/retinanet_r50_fpn_a_sissi_s.py [--cpu-scale]`
_base_ = [
    '../_base_/models/retinanet_r50_fpn_cell.py',
    '../_base_/a_sissi_s_loop.py',
]

# COCO-pretrained RetinaNet R50-FPN (OpenMMLab model zoo,
# retinanet/metafile.yml: retinanet_r50_fpn_1x_coco, box AP 36.5). The
# 80-class classification conv does not fit our one class and is
# re-initialised (mmengine logs the size mismatch). Tests and
# --cpu-scale override this.
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r50_fpn_1x_coco/retinanet_r50_fpn_1x_coco_20200130-c2398f9e.pth'  # noqa
