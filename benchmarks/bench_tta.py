# Copyright (c) mmsissi contributors. All rights reserved.
"""Cost of the pseudo-label pass vs the bare inferences it must run.

For each target image the pass makes 20 views (5 scales x 4 flips), runs
the detector on each, maps the boxes back and fuses them with WBF. This
script times, side by side in one process on the same images:

  bare   the 20 single-view ``model.test_step`` calls alone;
  pass   ``WBFTTAModel.test_step`` (the same 20 inferences + mapping back +
         fusion + bookkeeping), with ``views_per_batch`` 1 and, optionally,
         larger batches (which pay on GPUs, not on these CPUs);

and prints the overhead ratio (pass / bare - 1) and the time of the
mapping + fusion step alone. The detector is the baseline's Faster R-CNN
R50-FPN at 512x512 (random init; ``--arch r18`` for a faster check), with
up to 150 detections per view (~3,000 boxes to fuse per image, like a
dense real image).

    python benchmarks/bench_tta.py [--images 2] [--arch r50] [--batch 4]
"""
import argparse
import os
import os.path as osp
import sys
import time

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def time_tta(model, batches, device, views_per_batch=(1, )):
    """Time, side by side on the same images, the 20 bare single-view
    inferences and the pseudo-label pass (``WBFTTAModel.test_step``) for
    each ``views_per_batch``, and the mapping back + WBF alone.

    Args:
        model (nn.Module): The detector, in eval mode, on ``device``.
        batches (list[dict]): One collated TTA sample (20 views) per image.
        device (str): Where ``model`` is (CUDA is synchronised).
        views_per_batch (Sequence[int]): The pass's batch sizes to time.

    Returns:
        dict: ``seconds`` (name -> seconds per image), ``merge_seconds``
        (mapping + WBF per image) and ``boxes_fused`` (per image).
    """
    from mmsissi.models import WBFTTAModel

    def sync():
        if str(device).startswith('cuda'):
            torch.cuda.synchronize()

    def bare(data):
        for v in range(len(data['inputs'])):
            model.test_step(dict(inputs=data['inputs'][v],
                                 data_samples=data['data_samples'][v]))

    variants = [(f'pass (views_per_batch={n})',
                 WBFTTAModel(module=model, views_per_batch=n,
                             tta_cfg=dict(score_thr=0.0)))
                for n in views_per_batch]
    tta1 = variants[0][1]
    with torch.no_grad():
        views = [model.test_step(dict(inputs=batches[0]['inputs'][v],
                                      data_samples=batches[0]['data_samples']
                                      [v]))[0]
                 for v in range(len(batches[0]['inputs']))]
        n_boxes = sum(len(v.pred_instances) for v in views)
        tta1._merge_single_sample(list(views))  # warm-up (numba compile)
        t = time.perf_counter()
        reps = 5
        for _ in range(reps):
            tta1._merge_single_sample(list(views))
        t_merge = (time.perf_counter() - t) / reps
        bare(batches[0])  # warm-up
        for _, tta in variants[1:]:
            tta.test_step(batches[0])
        times = {'bare 20 inferences': [], **{n: [] for n, _ in variants}}
        for data in batches:  # interleaved, same images
            sync()
            t = time.perf_counter()
            bare(data)
            sync()
            times['bare 20 inferences'].append(time.perf_counter() - t)
            for name, tta in variants:
                t = time.perf_counter()
                tta.test_step(data)
                sync()
                times[name].append(time.perf_counter() - t)
    return dict(seconds={k: float(np.mean(v)) for k, v in times.items()},
                merge_seconds=t_merge, boxes_fused=n_boxes)


def build_model(arch='r50', device='cpu', max_per_img=150):
    """The baseline's Faster R-CNN (random init) with ``max_per_img``
    detections per view at score 0, and its config."""
    import mmsissi  # noqa: F401
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules()
    cfg = Config.fromfile('configs/sissi/baseline.py')
    cfg.model.backbone.init_cfg = None
    if arch == 'r18':
        cfg.model.backbone.depth = 18
        cfg.model.neck.in_channels = [64, 128, 256, 512]
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    cfg.model.test_cfg.rcnn.max_per_img = max_per_img
    torch.manual_seed(0)
    return MODELS.build(cfg.model).to(device).eval(), cfg


def tta_batches(cfg, n_images, root='demo/data/target/train'):
    """One collated 20-view sample per demo target image."""
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate
    imgs = sorted(osp.join(root, f) for f in os.listdir(root))[:n_images]
    pipe = Compose(cfg.tta_pipeline)  # the configs' 20 views
    return [pseudo_collate([pipe(dict(img_path=f, img_id=i))])
            for i, f in enumerate(imgs)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--images', type=int, default=2)
    p.add_argument('--arch', default='r50', choices=['r50', 'r18'])
    p.add_argument('--batch', type=int, default=0,
                   help='also time views_per_batch=N (0: skip)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available()
                   else 'cpu')
    args = p.parse_args()

    model, cfg = build_model(args.arch, args.device)
    batches = tta_batches(cfg, args.images)
    res = time_tta(model, batches, args.device,
                   (1, args.batch) if args.batch else (1, ))
    b = res['seconds']['bare 20 inferences']
    print(f'{args.arch} at 512x512 on {args.device}, {len(batches)} image(s)'
          f' x 20 views, {res["boxes_fused"]} boxes fused per image')
    for name, s in res['seconds'].items():
        print(f'  {name:<28} {s:8.2f} s/image   ratio to bare {s / b:6.3f}')
    t_merge = res['merge_seconds']
    print(f'  mapping back + WBF alone     {1000 * t_merge:8.1f} ms/image '
          f'({100 * t_merge / b:.2f} % of the bare inferences)')


if __name__ == '__main__':
    main()
