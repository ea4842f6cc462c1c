# Copyright (c) mmsissi contributors. All rights reserved.
"""``tools/sissi.py refit``: a new work dir that trains a detector from
scratch on the labels a correction run made (``configs/sissi/refit.py``),
so no weight has fitted the initial weak labels. Its state is a work dir's
like ``prepare``'s: ``train`` and ``count`` take it as they are."""
import os.path as osp
from typing import Optional

from mmsissi.datasets.label_store import LabelStore
from mmsissi.fileio import atomic_dump_json

from .child_config import write_child_config
from .inputs import OwnDataError, read_coco
from .prepare import CONFIG_NAME, STATE_NAME, read_state

__all__ = ['REFIT_CONFIG', 'corrected_labels', 'prepare_refit']

REFIT_CONFIG = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
        __file__))))), 'configs', 'sissi', 'refit.py')


def corrected_labels(work_dir: str, store_dir: str = 'labels') -> str:
    """The label file in force at the end of the run in ``work_dir`` (its
    label store's current one).

    Raises:
        OwnDataError: When the run wrote no pseudo labels.
    """
    store = LabelStore(osp.join(work_dir, store_dir))
    index = store.read_index()
    if index is None:
        raise OwnDataError(
            f'{work_dir}: no corrected labels ({store.index_path} is '
            'missing): train the correction row first (`tools/sissi.py '
            'train`), until its correction has started')
    return osp.join(store.root, index['file'])


def prepare_refit(work_dir: str, out_dir: Optional[str] = None,
                  labels: Optional[str] = None) -> dict:
    """Write the refit's work dir: the child config of
    ``configs/sissi/refit.py`` on the data of ``work_dir``, its target
    trained on ``labels``.

    Args:
        work_dir (str): A work dir of ``prepare`` whose run corrected the
            labels.
        out_dir (str, optional): The refit's work dir. Defaults to
            ``<work_dir>/refit``.
        labels (str, optional): The label file (COCO) to train on.
            Defaults to the run's last corrected labels.

    Returns:
        dict: The state written to ``<out_dir>/sissi.json``.
    """
    state = read_state(work_dir)
    if 'data' not in state:
        raise OwnDataError(f'{osp.join(work_dir, STATE_NAME)}: written by '
                           'an older mmsissi (no data paths): run '
                           '`tools/sissi.py prepare` again')
    labels = osp.abspath(labels or corrected_labels(work_dir))
    read_coco(labels, 'refit labels')
    out = osp.abspath(out_dir or osp.join(work_dir, 'refit'))
    path = osp.join(out, CONFIG_NAME)
    write_child_config(REFIT_CONFIG, path, out,
                       dict(state['data'], target_labels=labels),
                       state['readers'], state.get('test_images'))
    new = dict(state, config=path, row=REFIT_CONFIG, refit_labels=labels,
               refit_of=osp.abspath(work_dir), cpu_scale=False)
    atomic_dump_json(new, osp.join(out, STATE_NAME))
    print(f'refit config: {path} (trains on {labels})', flush=True)
    return new
