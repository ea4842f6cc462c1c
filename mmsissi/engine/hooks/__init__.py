# Copyright (c) mmsissi contributors. All rights reserved.
from .adele_hook import ADELEHook
from .epoch_seed_hook import EpochSeedHook
from .figure_hook import SISSIFigureHook
from .invalid_loss_hook import InvalidLossHook
from .pseudo_label_hook import PseudoLabelHook
from .start_criterion import StartCriterionHook
from .teacher_labels_hook import TeacherLabelsHook
from .val_loss_start_hook import ValLossStartHook
from .work_dir_lock_hook import WorkDirLockHook

__all__ = [
    'ADELEHook', 'EpochSeedHook', 'InvalidLossHook', 'PseudoLabelHook',
    'SISSIFigureHook', 'StartCriterionHook', 'TeacherLabelsHook',
    'ValLossStartHook',
    'WorkDirLockHook'
]
