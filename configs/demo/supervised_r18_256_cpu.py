# CPU-scale demo of the "Supervised only" row (mixed batches, no label
# correction): ResNet-18 FPN at 256x256, the small
# demo subset shipped in demo/data, random init (no downloads), a short
# schedule. It shows the whole pipeline working in minutes on 2 cores;
# accuracy comes from the full-size configs in configs/sissi/ on a GPU.
_base_ = ['../sissi/supervised.py']

demo_root = 'demo/data/'
img_scale = (256, 256)
train_batch_size = 4  # 2 target + 2 source

model = dict(
    backbone=dict(
        depth=18,
        # the real ImageNet weights, for users who can download them:
        # init_cfg=dict(type='Pretrained', checkpoint='https://download.pytorch.org/models/resnet18-f37072fd.pth')  # noqa
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512]),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(max_per_img=300)))
load_from = None  # the COCO R50 checkpoint does not fit ResNet-18

_pipe_scale = dict(type='Resize', scale=img_scale, keep_ratio=True)
train_pipeline = [
    dict(type='LoadCellImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    # SISSI synthetic-like images, at the image's native resolution: a
    # no-op until label correction starts; the blur is the one the row's
    # PseudoLabelHook(synthesize=...) names (configured there only)
    dict(type='SeamlessSynth'),
    _pipe_scale,
    dict(type='RandomChannelShuffle', prob=0.5),
    dict(type='RandomGaussianBlur', kernel_range=(3, 7), prob=0.3),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='RandomApply', prob=0.5, transforms=[
        dict(type='RandomAffine', max_rotate_degree=15.0,
             max_translate_ratio=0.0625, scaling_ratio_range=(0.9, 1.1),
             max_shear_degree=0.0, border_val=(128, 128, 128))]),
    # the project's box rule on what synthesis and augmentation left:
    # clipped to the image, >= 1 px wide and high (mmsissi.structures)
    dict(type='SanitizeBoxes'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadCellImageFromFile'),
    _pipe_scale,
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]

train_dataloader = dict(
    batch_size=train_batch_size,
    num_workers=1,
    persistent_workers=True,
    # an epoch is one pass over the 12 demo crops
    sampler=dict(batch_size=train_batch_size, iters_per_epoch=None),
    dataset=dict(datasets=[
        dict(
            type='SISSITargetDataset',
            data_root=None,
            # written by tools/demo.py with tools/weak_labels.py's pipeline
            ann_file='work_dirs/demo/weak_labels_train.json',
            data_prefix=dict(img=demo_root + 'target/'),
            metainfo=dict(classes=('cell', )),
            filter_cfg=dict(filter_empty_gt=False),
            pipeline=train_pipeline),
        dict(
            type='CellCocoDataset',
            data_root=demo_root + 'source/',
            ann_file='annotations_bbox.json',
            data_prefix=dict(img=''),
            metainfo=dict(classes=('cell', )),
            category_map=dict(nucleus='cell'),
            filter_cfg=dict(filter_empty_gt=True),
            pipeline=train_pipeline),
    ]))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(
        data_root=demo_root + 'target/',
        ann_file='test_manual.json',
        data_prefix=dict(img=''),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    readers=dict(manual=demo_root + 'target/test_manual.json'))
test_evaluator = val_evaluator

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)
]
# random init needs a higher lr than fine-tuning to show progress in minutes
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(
    logger=dict(interval=6),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
