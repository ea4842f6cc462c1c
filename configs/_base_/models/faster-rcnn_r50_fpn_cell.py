# Faster R-CNN R50-FPN for one class (`cell`), dense images.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

model = dict(
    # ImageNet weights for the backbone when training from scratch; the
    # COCO checkpoint in `load_from` (default_runtime) replaces all weights
    # anyway. A direct URL, so torchvision is not needed.
    backbone=dict(
        frozen_stages=-1,  # paper 4.1: "We do not freeze any layer"
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'resnet50-0676ba61.pth')),
    roi_head=dict(bbox_head=dict(num_classes=1)),
    test_cfg=dict(
        # dense cell images: keep enough proposals and detections
        rpn=dict(nms_pre=2000, max_per_img=2000),
        rcnn=dict(score_thr=0.05, max_per_img=500)))
