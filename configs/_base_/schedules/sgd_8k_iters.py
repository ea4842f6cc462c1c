# SISSI schedule: SGD lr 0.001, momentum 0.9, weight decay 0.0002, batch 8.
#
# The authors train about 8,000 iterations at batch 8
# (max_epoch = 8000 // len(target loader) + 1) and remake the pseudo labels
# once per pass over their 224-image target set, i.e. every 56 iterations.
# We keep those two numbers whatever the size of the target set: an
# "epoch" is a fixed 56 iterations (BalancedMultiSourceSampler's
# `iters_per_epoch`; the target images cycle through reshuffled passes, so
# each is seen equally often), so the pseudo labels are remade every 56
# iterations, ADELE gets one AP50 point per 56 iterations (its time axis
# is the authors'), and 143 epochs make 8,008 iterations. With the
# 45-image target split of tools/prepare_data.py an epoch holds ~5 passes.
iters_per_epoch = 56
max_iters = 8000
max_epochs = max_iters // iters_per_epoch + 1  # 143
# The 100-iteration warm-up spans the first 2 epochs: ADELE leaves them
# out of its fit (their AP50 bends the early curve).
warmup_iters = 100
warmup_epochs = -(-warmup_iters // iters_per_epoch)  # 2
# Latest start of label correction, whatever the criterion says (the start
# is logged with its cause: criterion or cap).
max_start_epoch = 100

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=warmup_iters),
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.001, momentum=0.9, weight_decay=0.0002),
    clip_grad=dict(max_norm=35, norm_type=2))

# lr 0.001 is for a batch of 8 (4 target + 4 source) in total.
auto_scale_lr = dict(enable=False, base_batch_size=8)
