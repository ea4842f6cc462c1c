# SISSI schedule: SGD lr 0.001, momentum 0.9, weight decay 0.0002.
max_epochs = 50
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.001, momentum=0.9, weight_decay=0.0002),
    clip_grad=dict(max_norm=35, norm_type=2))

# lr 0.001 is for a batch of 8 (4 target + 4 source) in total.
auto_scale_lr = dict(enable=False, base_batch_size=8)
