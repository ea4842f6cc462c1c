# Everything of the A+SISSI(S) row except the model: data, schedule,
# runtime, and its hooks (ADELE start + pseudo labels from the dataset
# base's 20-view TTA + WBF + strong-blur synthesis). configs/detectors/
# combine it with a model base (no key is shared, so both can be bases).
_base_ = [
    './datasets/target_source_cells.py',
    './schedules/sgd_8k_iters.py',
    './default_runtime.py',
]

train_dataloader = dict(
    sampler=dict(iters_per_epoch={{_base_.iters_per_epoch}}))
custom_hooks = [
    dict(type='ADELEHook',
         threshold=0.9,
         warmup_epochs={{_base_.warmup_epochs}},
         max_start_epoch={{_base_.max_start_epoch}},
         dataloader={{_base_.adele_dataloader}}),
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize='strong'),
]
