default_scope = 'mmdet'
custom_imports = dict(imports=['mmsissi'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'),
    # a NaN/inf loss stops training with a clear error (last ckpt intact)
    check_loss=dict(type='InvalidLossHook', interval=1),
    # every epoch a function of (weights, seed, epoch): --resume reproduces
    epoch_seed=dict(type='EpochSeedHook'),
    # SISSI's figures (ADELE curve, label evolution, synthetic pairs), drawn
    # from the MessageHub and the label store; nothing to draw: no figure
    sissi_figures=dict(type='SISSIFigureHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)

log_level = 'INFO'
# COCO-pretrained Faster R-CNN R50-FPN (OpenMMLab model zoo). The 80-class
# box head does not fit our one class and is re-initialised (mmengine logs
# the size mismatch). Tests and the CPU demo override this.
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r50_fpn_1x_coco/faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth'  # noqa
resume = False
randomness = dict(seed=0)
