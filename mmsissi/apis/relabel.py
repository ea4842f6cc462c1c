# Copyright (c) mmsissi contributors. All rights reserved.
"""One round of label correction with a trained detector, outside
training: the ``PseudoLabelHook`` of a correction config, run once with
the weights of a checkpoint (for example a refit's), writes the labels
it would train the next epoch on.

This iterates the refit: correct (a correction row) -> refit on the
corrected labels -> relabel with the refit's detector -> refit again. The
hook's update policy applies as in training: with ``update='merge'`` the
config's *initial* labels (its target ``ann_file``) are kept and the
fused boxes are merged into them, never into the previous round's."""
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner

from mmsissi.engine.hooks import PseudoLabelHook

__all__ = ['RelabelError', 'relabel']


class RelabelError(ValueError):
    """A config or checkpoint that cannot relabel."""


def _hook(runner, config_name):
    hooks = [h for h in runner.hooks if isinstance(h, PseudoLabelHook)]
    if len(hooks) != 1:
        raise RelabelError(
            f'{config_name}: relabelling needs exactly one PseudoLabelHook '
            f'in custom_hooks, found {len(hooks)} (give a correction row, '
            'e.g. configs/sissi/sissi_merge.py)')
    return hooks[0]


def relabel(cfg, checkpoint: str, work_dir: str) -> str:
    """Relabel the config's target training images once.

    Args:
        cfg (Config | str): A correction config (one ``PseudoLabelHook``);
            its target ``ann_file`` holds the initial labels.
        checkpoint (str): Weights of the detector that labels (any
            checkpoint of the same model: the correction run's, a refit's).
        work_dir (str): Where the labels go: the hook's label store,
            ``<work_dir>/<store_dir>/epoch_1.json`` (written atomically;
            the initial labels are not touched).

    Returns:
        str: The path of the label file written.
    """
    name = cfg if isinstance(cfg, str) else cfg.filename or 'config'
    cfg = Config.fromfile(cfg) if isinstance(cfg, str) else cfg.copy()
    if not osp.isfile(checkpoint):
        raise RelabelError(f'{checkpoint}: no such checkpoint')
    cfg.work_dir = osp.abspath(work_dir)
    cfg.load_from, cfg.resume = None, False
    runner = Runner.from_cfg(cfg)
    hook = _hook(runner, name)
    runner.load_checkpoint(checkpoint, map_location='cpu')
    hook.start_epoch = 0  # active now: runner.epoch is 0
    hook.before_run(runner)
    hook.before_train_epoch(runner)
    index = hook.store.read_index()
    return osp.join(hook.store.root, index['file'])
