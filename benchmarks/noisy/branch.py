# Copyright (c) mmsissi contributors. All rights reserved.
"""Branching the correction rows from the supervised run, and the
per-epoch quality of the labels each row trained on."""
import glob
import json
import os
import os.path as osp
import re
import time

import numpy as np

from mmsissi.engine.hooks.label_update import size_bias
from mmsissi.utils import safe_torch_load
from mmsissi.weak_labels.boxes import evaluate_boxes, load_coco_boxes

__all__ = ['read_record', 'make_branch_checkpoint', 'labels_by_epoch',
           'label_quality', 'val_metrics', 'earlier_run_seconds']

START_KEY, CAUSE_KEY = 'sissi/start_epoch', 'sissi/start_cause'
#: logged training scalars every detector updates each iteration
_RUNTIME_SCALARS = ('lr', 'time', 'data_time', 'grad_norm', 'loss')


def read_record(work, criterion):
    """``(epoch, cause)`` where ``criterion`` fired in the recording run
    (its ``sissi_start_{criterion}.json``), or None."""
    path = osp.join(work, f'sissi_start_{criterion}.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        rec = json.load(f)
    return int(rec['epoch']), str(rec['cause'])


def make_branch_checkpoint(work, criterion, out, restore_best=True,
                           teacher_student=None):
    """A checkpoint to resume a correction row from: the recording run's
    checkpoint of the epoch ``criterion`` fired at, with the start epoch
    and cause published in its MessageHub state, exactly as the row's own
    run holds them after the criterion fired; for ``ValLossStartHook`` the
    weights are the best-validation-loss ones (its ``on_start``) unless
    the row's hook has ``restore_best=False``.

    With ``teacher_student`` (a float: the lr factor) the checkpoint is for
    a ``SemiBaseDetector`` (the Soft Teacher rows): its weights load into
    both the student and the teacher (mmdet adds the prefixes), and the
    optimizer state is the student's, its lr scaled by the factor
    (:func:`~.soft_teacher.teacher_student_optimizer`), and the detector's
    logged losses are left out of the MessageHub (the row logs them as
    ``sup_*`` / ``unsup_*``; resumed, the old names would be printed,
    unchanged, every iteration).

    Returns:
        tuple[int, str]: the start epoch and its cause.
    """
    import torch
    rec = read_record(work, criterion)
    if rec is None:
        raise RuntimeError(
            f'{criterion} did not fire in {work} (no '
            f'sissi_start_{criterion}.json); raise --max-start-epoch or '
            '--epochs')
    epoch, cause = rec
    ckpt = safe_torch_load(osp.join(work, f'epoch_{epoch}.pth'),
                           map_location='cpu')
    hub = ckpt['message_hub']['runtime_info']
    if criterion == 'ValLossStartHook' and restore_best:
        best = hub.get('sissi/val_loss_best')
        if best is not None and int(best['epoch']) != epoch:
            ckpt['state_dict'] = safe_torch_load(
                osp.join(work, 'val_loss_best.pth'), map_location='cpu')
    hub[START_KEY], hub[CAUSE_KEY] = epoch, cause
    if teacher_student is not None:
        from .soft_teacher import teacher_student_optimizer
        ckpt['optimizer'] = teacher_student_optimizer(
            ckpt['optimizer'], float(teacher_student))
        scalars = ckpt['message_hub'].get('log_scalars', {})
        for key in [k for k in scalars if k.startswith('train/')
                    and k[6:] not in _RUNTIME_SCALARS]:
            del scalars[key]
    torch.save(ckpt, out + '.tmp')  # atomic: a killed run leaves no half
    os.replace(out + '.tmp', out)
    return epoch, cause


def labels_by_epoch(work, initial, epochs):
    """The target labels trained on in each epoch: ``{0: initial file,
    k: the label-store file in force in epoch k}`` (pseudo labels written
    for epoch k, else the last earlier ones, else the initial file)."""
    files, current = {0: initial}, initial
    for k in range(1, epochs + 1):
        path = osp.join(work, 'labels', f'epoch_{k}.json')
        if osp.isfile(path):
            current = path
        files[k] = current
    return files


def label_quality(files, truth):
    """Precision / recall / F1 (IoU 0.5) of each epoch's label file
    against the clean truth, on the truth's images, and how well the
    labels are placed: precision / recall at IoU 0.75 (``precision75``,
    ``recall75``) and the labels' median size bias (``log_w``,
    ``log_h``: log label / true width and height over the truth boxes'
    best matches at IoU >= 0.5). Ignore regions (``iscrowd`` boxes) are
    not labels: they are left out and counted in ``num_ignore``."""
    gt = load_coco_boxes(truth)
    out, cache = {}, {}
    for epoch, path in files.items():
        if path not in cache:
            cache[path] = _quality(load_coco_boxes(path, crowd=False),
                                   load_coco_boxes(path, crowd=True), gt)
        out[epoch] = dict(cache[path])
    return out


def _quality(pred, ignore, gt):
    """:func:`label_quality`'s numbers of one file's labels and ignore
    regions (by image key) against the truth ``gt``."""
    pred = {k: np.asarray(pred.get(k, np.zeros((0, 4))))[:, :4] for k in gt}
    m, m75 = evaluate_boxes(pred, gt), evaluate_boxes(pred, gt, 0.75)
    log_w, log_h, n = size_bias(gt, pred, match_iou=0.5, min_pairs=1)
    if n == 0:
        log_w = log_h = float('nan')
    return dict(num_boxes=m['num_pred'], precision=m['precision'],
                recall=m['recall'], f1=m['f1'],
                num_ignore=sum(len(ignore.get(k, ())) for k in gt),
                precision75=m75['precision'], recall75=m75['recall'],
                log_w=log_w, log_h=log_h)


_STAMP = re.compile(r'^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) - ', re.M)


def earlier_run_seconds(work, before):
    """Seconds the row's trainings that began before the epoch time
    ``before`` ran: the span from the first to the last timestamp of each
    MMEngine run log ``<work>/<YYYYmmdd_HHMMSS>/<same>.log`` (a killed or
    orphaned run counted as far as it logged), so that a resumed row's
    wall time includes the runs it resumed."""
    total = 0.0
    for log in glob.glob(osp.join(work, '*', '*.log')):
        stamps = _STAMP.findall(open(log, encoding='utf-8').read())
        if not stamps:
            continue
        first, last = (time.mktime(time.strptime(t, '%Y/%m/%d %H:%M:%S'))
                       for t in (stamps[0], stamps[-1]))
        if first < before:
            total += max(0.0, last - first)
    return total


_VAL = re.compile(r'Epoch\(val\).*?coco/clean/AP50: ([0-9.]+)\s+'
                  r'coco/clean/AP75: ([0-9.]+)\s+coco/clean/AP: ([0-9.]+)'
                  r'\s+coco/clean/AR: ([0-9.]+)')


def val_metrics(work):
    """The row's last validation result on the target's clean validation
    split (AP50, AP75, AP, AR as fractions) from its ``train.log``, the
    split to choose levers on; None if it has none."""
    path = osp.join(work, 'train.log')
    if not osp.isfile(path):
        return None
    found = _VAL.findall(open(path, encoding='utf-8').read())
    return [float(v) for v in found[-1]] if found else None
