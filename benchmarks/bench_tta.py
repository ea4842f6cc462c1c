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
import os.path as osp
import sys
import time

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--images', type=int, default=2)
    p.add_argument('--arch', default='r50', choices=['r50', 'r18'])
    p.add_argument('--batch', type=int, default=0,
                   help='also time views_per_batch=N (0: skip)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available()
                   else 'cpu')
    args = p.parse_args()

    import mmsissi  # noqa: F401
    from mmcv.transforms import Compose
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from mmsissi.models import WBFTTAModel
    register_all_modules()

    cfg = Config.fromfile('configs/sissi/baseline.py')
    cfg.model.backbone.init_cfg = None
    if args.arch == 'r18':
        cfg.model.backbone.depth = 18
        cfg.model.neck.in_channels = [64, 128, 256, 512]
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    cfg.model.test_cfg.rcnn.max_per_img = 150
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(args.device).eval()

    imgs = sorted(
        osp.join('demo/data/target/train', f)
        for f in __import__('os').listdir('demo/data/target/train'))
    imgs = imgs[:args.images]
    pipe = Compose(cfg.tta_pipeline)  # the configs' 20 views at 512
    batches = [pseudo_collate([pipe(dict(img_path=f, img_id=i))])
               for i, f in enumerate(imgs)]

    def sync():
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()

    def bare(data):
        for v in range(len(data['inputs'])):
            model.test_step(dict(inputs=data['inputs'][v],
                                 data_samples=data['data_samples'][v]))

    tta1 = WBFTTAModel(module=model, tta_cfg=dict(score_thr=0.0))
    variants = [('pass (views_per_batch=1)', tta1)]
    if args.batch:
        variants.append((f'pass (views_per_batch={args.batch})',
                         WBFTTAModel(module=model, views_per_batch=args.batch,
                                     tta_cfg=dict(score_thr=0.0))))

    # merge alone: map back + WBF on real per-view predictions
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
    b = float(np.sum(times['bare 20 inferences']))
    print(f'{args.arch} at 512x512 on {args.device}, {len(batches)} image(s)'
          f' x 20 views, {n_boxes} boxes fused per image')
    for name, ts in times.items():
        s = float(np.sum(ts))
        print(f'  {name:<28} {s / len(ts):8.2f} s/image   ratio to bare '
              f'{s / b:6.3f}')
    print(f'  mapping back + WBF alone     {1000 * t_merge:8.1f} ms/image '
          f'({100 * t_merge * len(batches) / b:.2f} % of the bare '
          'inferences)')


if __name__ == '__main__':
    main()
