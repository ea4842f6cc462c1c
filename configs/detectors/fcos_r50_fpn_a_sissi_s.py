# "SISSI on top of any detector": the A+SISSI(S) row of Table 1 with
# FCOS R50-caffe-FPN, GN head instead of Faster R-CNN. Data, schedule, TTA
# and hooks are those of the Table 1 rows; only the model (and its COCO
# checkpoint) change. `python tools/train.py
# configs/detectors/fcos_r50_fpn_a_sissi_s.py [--cpu-scale]`
_base_ = [
    '../_base_/models/fcos_r50-caffe_fpn_gn-head_cell.py',
    '../_base_/a_sissi_s_loop.py',
]

# COCO-pretrained FCOS R50-caffe-FPN GN-head 1x (OpenMMLab model zoo,
# fcos/metafile.yml: fcos_r50-caffe_fpn_gn-head_1x_coco, box AP 36.6).
# The 80-class classification conv does not fit our one class and is
# re-initialised (mmengine logs the size mismatch). Tests and
# --cpu-scale override this.
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/fcos/fcos_r50_caffe_fpn_gn-head_1x_coco/fcos_r50_caffe_fpn_gn-head_1x_coco-821213aa.pth'  # noqa
