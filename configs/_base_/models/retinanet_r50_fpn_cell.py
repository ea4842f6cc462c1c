# RetinaNet R50-FPN (mmdet's _base_ model) for one class (`cell`), dense
# images, no frozen layer.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

model = dict(
    backbone=dict(
        frozen_stages=-1,
        # ImageNet ResNet-50 as a direct URL, so torchvision is not needed;
        # `load_from` (the COCO RetinaNet) replaces all weights anyway.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'resnet50-0676ba61.pth')),
    bbox_head=dict(num_classes=1),
    # dense cell images: keep enough candidates and detections
    test_cfg=dict(nms_pre=2000, max_per_img=500))
