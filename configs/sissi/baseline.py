# Table 1, "Baseline": mixed-batch supervised training (supervised.py) ->
# early stopping on the source validation loss -> self-training: every
# epoch from then on, the target labels are replaced by pseudo labels from
# the 20-view TTA + WBF ensemble (`tta_model` / `tta_pipeline` in the
# dataset base). No synthetic-like images.
_base_ = './supervised.py'

# When to start: once the source validation loss has not improved for 3
# epochs (or at `max_start_epoch`); correction starts from the weights of
# the best validation loss, restored into the model.
val_loss_start = dict(
    type='ValLossStartHook',
    patience=3,
    max_start_epoch={{_base_.max_start_epoch}},
    dataloader={{_base_.source_val_dataloader}})

custom_hooks = [
    val_loss_start,
    dict(type='PseudoLabelHook',
         dataloader={{_base_.pseudo_label_dataloader}},
         synthesize=False),
]
