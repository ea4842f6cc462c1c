# Copyright (c) mmsissi contributors. All rights reserved.
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner.utils import set_random_seed

__all__ = ['EpochSeedHook']


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Re-seed Python, NumPy and torch at the start of every training epoch
    with ``seed + epoch``.

    MMEngine seeds once per process, and ``--resume`` does not restore the
    random state, so a resumed run draws different augmentations and RoI
    samples than the uninterrupted one and its pseudo labels drift apart.
    Seeding from the epoch makes every epoch a function of (weights, seed,
    epoch): with ``num_workers=0`` or non-persistent workers (re-created,
    and re-seeded, every epoch), a resumed self-training run reproduces the
    uninterrupted run's epochs, pseudo labels and start epoch.

    Args:
        seed (int, optional): Base seed; defaults to the runner's seed.
    """

    priority = 'VERY_HIGH'

    def __init__(self, seed=None) -> None:
        self.seed = seed

    def before_train_epoch(self, runner) -> None:
        base = runner.seed if self.seed is None else self.seed
        set_random_seed(int(base) + int(runner.epoch))
