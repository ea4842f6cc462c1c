# "SISSI on top of any detector": the A+SISSI(S) row of Table 1 (ADELE
# start + 20-view TTA/WBF pseudo labels + strong-blur synthesis) with
# RetinaNet R50-FPN instead of Faster R-CNN. Data, schedule and hooks are
# those of configs/sissi/a_sissi_s.py; only the model (and its COCO
# checkpoint) change. `python tools/train.py
# configs/detectors/retinanet_r50_fpn_a_sissi_s.py [--cpu-scale]`
_base_ = '../sissi/a_sissi_s.py'

# mmdet's retinanet/retinanet_r50_fpn_1x_coco.py model, one class, dense
# images; replaces the base Faster R-CNN wholesale (_delete_).
model = dict(
    _delete_=True,
    type='RetinaNet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # torchvision's ImageNet ResNet-50 ('torchvision://resnet50') as a
        # direct URL, so torchvision is not needed; `load_from` replaces
        # all weights anyway.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'resnet50-0676ba61.pth')),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=1,
        add_extra_convs='on_input',
        num_outs=5),
    bbox_head=dict(
        type='RetinaHead',
        num_classes=1,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        anchor_generator=dict(
            type='AnchorGenerator',
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.4,
            min_pos_iou=0,
            ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'),  # focal loss: no sampling
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        # dense cell images: keep enough candidates and detections
        nms_pre=2000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=500))

# COCO-pretrained RetinaNet R50-FPN (OpenMMLab model zoo,
# retinanet/metafile.yml: retinanet_r50_fpn_1x_coco, box AP 36.5). The
# 80-class classification conv does not fit our one class and is
# re-initialised (mmengine logs the size mismatch). Tests and
# --cpu-scale override this.
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r50_fpn_1x_coco/retinanet_r50_fpn_1x_coco_20200130-c2398f9e.pth'  # noqa
