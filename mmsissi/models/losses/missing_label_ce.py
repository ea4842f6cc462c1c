# Copyright (c) mmsissi contributors. All rights reserved.
"""Cross-entropy that does not teach unlabelled cells to be background.

Weak labels miss many cells (the Usiigaci weak labels: recall 0.48), and a
detector trained on them is told, on every sampled anchor or RoI over a
missed cell, that it is background. It learns to score such cells low, so
its pseudo labels seldom find them. The literature on missing annotations
takes those samples out of the background loss: soft sampling (Wu et al.
2019) by their overlap with the labelled boxes, the Background
Recalibration Loss (Zhang et al. 2020) by the detector's own confidence.

:class:`MissingLabelCrossEntropyLoss` does the latter for any head whose
``loss_cls`` is mmdet's ``CrossEntropyLoss`` (RPN and RoI heads of Faster
R-CNN, sigmoid or softmax): from training iteration ``begin_iter`` on, a
sample labelled background whose predicted cell probability (detached) is
at least ``ignore_thr`` gets weight 0, so the detector is neither pushed
down on it nor up. Both matter at the start: a freshly initialised head
scores every sample about 0.5 (zero logits), and a threshold at or below
that, from iteration 0, would ignore all background from the first step
on, so nothing would ever teach the detector what is not a cell.
Positives, and the background samples it is unsure of, are trained as
before; the loss is normalised as mmdet's (``avg_factor`` unchanged), so
ignoring a sample removes its share instead of re-weighting the others.
Only in training mode: a loss computed with the model in eval mode (e.g.
``ValLossStartHook``'s validation loss) is the plain one, comparable
across rows.

Every training image is treated alike: on the clean, complete source
images of a SISSI batch a confident background sample is a real false
positive, which this loss then leaves untrained too.
"""
import torch
from mmdet.models.losses import CrossEntropyLoss
from mmdet.registry import MODELS
from mmengine.logging import MessageHub

__all__ = ['MissingLabelCrossEntropyLoss', 'confident_background']


def confident_background(cls_score, label, use_sigmoid, thr):
    """Which samples are labelled background but scored as a cell.

    Args:
        cls_score (Tensor): ``(N, C)`` logits: ``C`` classes with sigmoid,
            ``C - 1`` classes and background last with softmax.
        label (Tensor): ``(N,)`` class indices; background is the index
            after the last class (mmdet's convention).
        use_sigmoid (bool): How ``cls_score`` is activated.
        thr (float): Cell probability from which a background sample is
            confident.

    Returns:
        Tensor: ``(N,)`` bool mask.
    """
    with torch.no_grad():
        if use_sigmoid:
            num_classes = cls_score.size(-1)
            fg = cls_score.sigmoid().max(dim=-1).values
        else:
            num_classes = cls_score.size(-1) - 1
            fg = cls_score.softmax(dim=-1)[:, :num_classes].max(
                dim=-1).values
    return (label >= num_classes) & (fg >= thr)


@MODELS.register_module()
class MissingLabelCrossEntropyLoss(CrossEntropyLoss):
    """mmdet's ``CrossEntropyLoss`` with confident background samples
    ignored (see the module docstring).

    Args:
        ignore_thr (float): Cell probability (the model's own, detached)
            from which a sample labelled background is left out of the
            loss. 1.0 (or more) ignores nothing: the plain loss. Keep it
            above the untrained head's score (0.5 for one class).
        begin_iter (int): First training iteration (mmengine's message
            hub ``iter``, kept by the runner) that ignores; before it, and
            outside a runner when > 0, the loss is the plain one, as it is
            in eval mode.
        **kwargs: ``CrossEntropyLoss``'s arguments (``use_sigmoid``,
            ``loss_weight``, ...); ``use_mask`` is not supported.
    """

    def __init__(self, ignore_thr=0.7, begin_iter=0, **kwargs):
        if kwargs.get('use_mask', False):
            raise ValueError('MissingLabelCrossEntropyLoss: use_mask is not '
                             'supported (classification losses only)')
        if not 0.0 < ignore_thr:
            raise ValueError(f'ignore_thr must be > 0, got {ignore_thr}')
        super().__init__(**kwargs)
        self.ignore_thr = ignore_thr
        self.begin_iter = begin_iter
        #: samples of non-zero weight ignored in the last call (for logging
        #: and tests; the RPN calls it once per FPN level: the last one's)
        self.last_ignored = 0
        #: the same, summed over every call since the loss was built
        self.total_ignored = 0

    def forward(self, cls_score, label, weight=None, avg_factor=None,
                reduction_override=None, **kwargs):
        """As ``CrossEntropyLoss.forward``, with the confident background
        samples' weights set to 0."""
        self.last_ignored = 0
        if cls_score.dim() != 2 or label.dim() != 1 or not self._active():
            return super().forward(cls_score, label, weight, avg_factor,
                                   reduction_override, **kwargs)
        if weight is not None and weight.shape != label.shape:
            raise ValueError('MissingLabelCrossEntropyLoss: weight must have '
                             f'the shape of label {tuple(label.shape)}, got '
                             f'{tuple(weight.shape)}')
        drop = confident_background(cls_score, label, self.use_sigmoid,
                                    self.ignore_thr)
        counted = drop if weight is None else drop & (weight > 0)
        self.last_ignored = int(counted.sum())
        self.total_ignored += self.last_ignored
        keep = (~drop).to(cls_score.dtype)
        weight = keep if weight is None else weight.float() * keep
        return super().forward(cls_score, label, weight, avg_factor,
                               reduction_override, **kwargs)

    def _active(self):
        if not self.training:
            return False
        if self.begin_iter <= 0:
            return True
        it = MessageHub.get_current_instance().get_info('iter')
        return it is not None and it >= self.begin_iter

    def extra_repr(self):
        return (f'{super().extra_repr()}, ignore_thr={self.ignore_thr}, '
                f'begin_iter={self.begin_iter}')
