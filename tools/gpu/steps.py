# Copyright (c) mmsissi contributors. All rights reserved.
"""The steps of ``tools/gpu_check.py``; each returns a JSON-able dict."""
import copy
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REFERENCE = osp.join(REPO, 'tools', 'gpu', 'reference_cpu.json')
DEMO = osp.join(REPO, 'demo', 'data')

#: Scale of the seeded heads' weights (see :func:`seeded_model`).
HEAD_SCALE = 1e-3

__all__ = ['install_info', 'write_reference', 'step_env', 'step_ops',
           'step_agree', 'step_train', 'step_tta', 'step_bench']


def _size(dry_run):
    """(arch, scale, images per source per batch) of a run."""
    return ('r18', 128, 1) if dry_run else ('r50', 512, 4)


def _sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def install_info():
    """What ``tools/gpu_check.sh`` installed, from its environment."""
    return dict(seconds=float(os.environ.get('GPU_CHECK_INSTALL_S', 0)),
                mmcv_ops=os.environ.get('GPU_CHECK_MMCV_OPS', 'as found'))


def mmcv_ops_backend():
    """``'compiled'`` or ``'torchvision'`` (the shim), or ``'missing'``."""
    try:
        import mmcv._ext as ext
    except ImportError:
        return 'missing'
    return 'torchvision' if ext.__file__.endswith('.py') else 'compiled'


def step_env(args):
    import mmcv
    import mmdet
    import mmengine
    cuda = torch.cuda.is_available()
    return dict(torch=torch.__version__, cuda=torch.version.cuda,
                cuda_available=cuda,
                gpu=torch.cuda.get_device_name(0) if cuda else None,
                mmcv=mmcv.__version__, mmdet=mmdet.__version__,
                mmengine=mmengine.__version__,
                mmcv_ops=mmcv_ops_backend(), python=sys.version.split()[0])


# ------------------------------------------------------------------- ops
def op_inputs():
    """Seeded inputs of the op check (the same on every machine)."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (300, 2))
    wh = rng.uniform(1, 30, (300, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    feat = rng.standard_normal((2, 4, 24, 24)).astype(np.float32)
    rois = np.concatenate([rng.integers(0, 2, (20, 1)), boxes[:20]],
                          1).astype(np.float32)
    grad = rng.standard_normal((20, 4, 7, 7)).astype(np.float32)
    return boxes, scores, feat, rois, grad


def run_ops(device):
    """mmcv's nms indices, RoIAlign output and input gradient on
    :func:`op_inputs` (spatial scale 0.2, 7x7, adaptive sampling,
    aligned)."""
    from mmcv.ops import nms, roi_align
    boxes, scores, feat, rois, grad = (torch.from_numpy(a).to(device)
                                       for a in op_inputs())
    _, keep = nms(boxes, scores, 0.5)
    feat.requires_grad_(True)
    out = roi_align(feat, rois, (7, 7), 0.2, 0, 'avg', True)
    out.backward(grad)
    return dict(nms=keep.cpu().tolist(),
                roi_align=out.detach().cpu().numpy(),
                roi_align_grad=feat.grad.cpu().numpy())


def step_ops(args):
    ref = json.load(open(REFERENCE))['ops']
    got = run_ops(args.device)
    return dict(
        nms_equal=got['nms'] == ref['nms'], nms_kept=len(got['nms']),
        roi_align_max_abs_diff=float(np.abs(
            got['roi_align'] - np.array(ref['roi_align'])).max()),
        roi_align_grad_max_abs_diff=float(np.abs(
            got['roi_align_grad'] - np.array(ref['roi_align_grad'])).max()),
        backend=mmcv_ops_backend())


# ----------------------------------------------------------------- agree
def seeded_model(arch, device):
    """The baseline's Faster R-CNN with weights drawn from a seeded numpy
    generator (the same on every machine): a fixed checkpoint that need
    not travel. The 100 best-scoring detections."""
    from benchmarks.bench_tta import build_model
    model, cfg = build_model(arch, 'cpu', max_per_img=100)
    rng = np.random.default_rng(1)
    state = {}
    for k, v in model.state_dict().items():
        if not v.is_floating_point():
            state[k] = v
            continue
        n = rng.standard_normal(v.shape).astype(np.float32)
        if k.endswith('running_var'):
            n = 1 + 0.1 * np.abs(n)
        elif k.endswith('running_mean'):
            n = 0.1 * n
        elif v.ndim > 1:  # conv / linear weights: He scale
            n = n * np.sqrt(2.0 / max(1, v[0].numel()))
            if '_reg' in k or '_cls' in k:  # moderate heads: boxes near
                n = HEAD_SCALE * n           # their anchors, spread scores
        elif k.endswith('weight'):  # norm weights
            n = 1 + 0.1 * n
        else:  # biases
            n = 0.01 * n
        state[k] = torch.from_numpy(n)
    model.load_state_dict(state)
    return model.to(device).eval(), cfg


def _test_sample(cfg, scale):
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate

    from mmsissi.utils import apply_cpu_scale
    cfg = apply_cpu_scale(cfg, scale=(scale, scale))
    root = osp.join(DEMO, 'target', 'test')
    img = osp.join(root, sorted(os.listdir(root))[0])
    pipe = Compose(cfg.test_dataloader.dataset.pipeline)
    return pseudo_collate([pipe(dict(img_path=img, img_id=0))])


def detect(arch, scale, device):
    """The seeded model's detections on the first demo test image:
    (N, 5) boxes + scores, by decreasing score."""
    model, cfg = seeded_model(arch, device)
    with torch.no_grad():
        pred = model.test_step(_test_sample(cfg, scale))[0].pred_instances
    return np.concatenate([pred.bboxes.cpu().numpy(),
                           pred.scores.cpu().numpy()[:, None]], 1)


def match(a, b, iou_thr=0.9):
    """Fraction of ``a``'s boxes with a box of ``b`` at IoU >= ``iou_thr``,
    and the largest score difference among those matches."""
    from mmsissi.structures.box_ops import box_iou
    if len(a) == 0 or len(b) == 0:
        return dict(matched=float(len(a) == len(b)), max_score_diff=0.0)
    iou = box_iou(a[:, :4], b[:, :4])
    best = iou.argmax(1)
    ok = iou[np.arange(len(a)), best] >= iou_thr
    diff = np.abs(a[ok, 4] - b[best[ok], 4])
    return dict(matched=float(ok.mean()),
                max_score_diff=float(diff.max()) if ok.any() else None)


def step_agree(args):
    arch, scale, _ = _size(args.dry_run)
    here = detect(arch, scale, args.device)
    cpu = detect(arch, scale, 'cpu') if args.device != 'cpu' else here
    ref = np.array(json.load(open(REFERENCE))['detections'][
        f'{arch}_{scale}'], np.float32).reshape(-1, 5)
    return dict(arch=arch, scale=scale, detections=len(here),
                device_vs_cpu=match(here, cpu),
                cpu_vs_device=match(cpu, here),
                device_vs_reference=match(here, ref),
                reference_vs_device=match(ref, here),
                tolerance='IoU >= 0.9 per matched box; scores reported')


def write_reference(path=REFERENCE):
    """The reference outputs of the ops and of :func:`detect` on the CPU,
    for both sizes (run here, with mmcv's compiled ops)."""
    ops = run_ops('cpu')
    ref = dict(ops=dict(nms=ops['nms'],
                        roi_align=np.round(ops['roi_align'], 6).tolist(),
                        roi_align_grad=np.round(ops['roi_align_grad'],
                                                6).tolist()),
               detections={f'{a}_{s}': np.round(detect(a, s, 'cpu'),
                                                4).tolist()
                           for a, s, _ in (_size(True), _size(False))},
               mmcv_ops=mmcv_ops_backend(), torch=torch.__version__)
    with open(path, 'w') as f:
        json.dump(ref, f)
    return path


# ----------------------------------------------------------------- train
def _train_cfg(args):
    from mmengine.config import Config

    from mmsissi.utils import apply_cpu_scale
    arch, scale, per_source = _size(args.dry_run)
    cfg = Config.fromfile(osp.join(REPO, 'configs/sissi/supervised.py'))
    full_model = copy.deepcopy(cfg.model)
    cfg = apply_cpu_scale(cfg, scale=(scale, scale), max_epochs=1,
                          batch_per_source=per_source,
                          workers=0 if args.dry_run else 4)
    if arch == 'r50':  # the configs' model, random init
        cfg.model = full_model
        cfg.model.backbone.init_cfg = None
    warm, timed = (1, 2) if args.dry_run else (5, 20)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=warm + timed,
                         val_interval=10**9)
    for k in ('val', 'test'):
        cfg[f'{k}_cfg'] = cfg[f'{k}_dataloader'] = None
        cfg[f'{k}_evaluator'] = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=10**9, by_epoch=False)
    cfg.log_processor = dict(type='LogProcessor', by_epoch=False)
    cfg.custom_hooks = [dict(type='GPUCheckTimerHook')]
    cfg.work_dir = osp.join(args.out, 'train_work')
    cfg.launcher = 'none'
    return cfg, warm, arch, scale, per_source


def step_train(args):
    from mmengine.runner import Runner

    from tools.gpu import timer_hook  # noqa: F401 - registers the hook
    cfg, warm, arch, scale, per_source = _train_cfg(args)
    runner = Runner.from_cfg(cfg)
    runner.train()
    ts = np.diff(timer_hook.TIMES[warm - 1:])  # the iterations after warm
    cuda = str(args.device).startswith('cuda')
    return dict(arch=arch, scale=scale,
                batch=f'{per_source} + {per_source}',
                iters_timed=len(ts), seconds_per_iter=float(ts.mean()),
                iters_per_second=float(1 / ts.mean()),
                peak_gpu_memory_gib=torch.cuda.max_memory_allocated() / 2**30
                if cuda else None)


# ------------------------------------------------------------------- tta
def step_tta(args):
    from benchmarks.bench_tta import build_model, tta_batches, time_tta

    from mmsissi.utils import apply_cpu_scale
    arch, scale, _ = _size(args.dry_run)
    scale = 64 if args.dry_run else scale  # 20 views x 8 passes on 2 cores
    model, cfg = build_model(arch, args.device,
                             max_per_img=30 if args.dry_run else 150)
    if args.dry_run:
        model.test_cfg.rpn.update(nms_pre=200, max_per_img=100)
    if scale != 512:
        cfg = apply_cpu_scale(cfg, scale=(scale, scale))
    batches = tta_batches(cfg, 1 if args.dry_run else 3,
                          root=osp.join(DEMO, 'target', 'train'))
    res = time_tta(model, batches, args.device, (1, 4, 20))
    bare = res['seconds']['bare 20 inferences']
    return dict(arch=arch, scale=scale, images=len(batches),
                seconds_per_image=res['seconds'],
                ratio_to_bare={k: v / bare
                               for k, v in res['seconds'].items()},
                merge_seconds_per_image=res['merge_seconds'],
                merge_share_of_bare=res['merge_seconds'] / bare,
                boxes_fused_per_image=res['boxes_fused'])


# ----------------------------------------------------------------- bench
def _bench_argv(args):
    work = osp.join(args.out, 'bench_work')
    if args.dry_run:  # the tests' demo-data benchmark, two iterations
        t, s = osp.join(DEMO, 'target'), osp.join(DEMO, 'source')
        return work, [
            '--target-ann', osp.join(s, 'annotations_bbox.json'),
            '--target-category-map', 'nucleus=cell', '--source-ann',
            osp.join(t, 'train_manual.json'), '--source-category-map',
            'cell=cell', '--source-val', '2', '--split', '6', '3', '3',
            '--rows', 'clean', '--epochs', '1', '--iters-per-epoch', '2',
            '--work-dir', work]
    d = args.dsb_data
    return work, [
        '--quick', '--target-ann',
        osp.join(d, 'dsb2018_stage1_train_fluo', 'annotations_bbox.json'),
        '--source-ann',
        osp.join(d, 'usiigaci_nih3t3_phc', 'annotations_bbox.json'),
        '--workers', '4', '--work-dir', work]


def step_bench(args):
    if not args.dry_run and not args.dsb_data:
        return dict(status='skipped', reason='no --dsb-data given')
    work, argv = _bench_argv(args)
    t0 = time.time()
    try:
        r = subprocess.run([sys.executable, 'benchmarks/noisy_labels.py',
                            *argv], cwd=REPO, capture_output=True,
                           text=True, timeout=max(1, args.budget - 10))
        status = 'ok' if r.returncode == 0 else 'failed'
        tail = (r.stdout + r.stderr)[-2000:]
    except subprocess.TimeoutExpired:  # the rows done so far are reported
        status, tail = 'timed out', ''
    csv_path = osp.join(work, 'results.csv')
    rows = open(csv_path).read().splitlines() if osp.isfile(csv_path) \
        else []
    return dict(status=status, wall_s=time.time() - t0, results_csv=rows,
                tail=tail)
