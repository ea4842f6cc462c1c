# Copyright (c) mmsissi contributors. All rights reserved.
"""Measure mmsissi on a GPU in one short run (``tools/gpu_check.sh``).

Steps, each in its own process with a time budget (a step that would
overrun the run's budget is skipped, one that overruns its own is killed;
both are reported):

  env     versions, the device, which mmcv ops run (compiled or the
          torchvision ones of ``tools/gpu/mmcv_ext_torchvision.py``);
  ops     mmcv's ``nms`` and ``RoIAlign`` (forward, backward) on the device
          against the reference outputs of the compiled mmcv CPU ops
          (``tools/gpu/reference_cpu.json``, made by ``--write-reference``);
  agree   one fixed checkpoint (weights drawn from a seeded numpy
          generator, the same on every machine) on one demo image: the
          detections on the device vs on the CPU and vs the reference;
  train   training iterations/s at full size (R50-FPN, 512x512, batch
          4 + 4, random init) on the demo data;
  tta     the 20-view pseudo-label pass per image with views_per_batch 1,
          4 and 20 against 20 single-view inferences, and the WBF +
          mapping share (``benchmarks/bench_tta.py``'s measurement);
  bench   the quick regime of the DSB noisy-label benchmark, if its data
          are given (``--dsb-data``) and time is left.

Every figure goes to ``<out>/gpu_check.json`` (rewritten after each step)
and the output to ``<out>/gpu_check.log``. ``--dry-run`` runs every step on
the CPU at tiny size (R18, 128x128, batch 1 + 1), as the test suite does.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from tools.gpu import steps  # noqa: E402

#: step -> (seconds it may take at full size, in a dry run)
BUDGETS = dict(env=(60, 60), ops=(60, 60), agree=(90, 90),
               train=(150, 150), tta=(150, 240), bench=(300, 240))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--dry-run', action='store_true',
                   help='every step on the CPU at tiny size')
    p.add_argument('--device', default=None,
                   help='default: cuda, or cpu for --dry-run')
    p.add_argument('--budget', type=float, default=None,
                   help='seconds for all steps together (default 540; '
                   'a dry run on 2 CPU cores: 900)')
    p.add_argument('--steps', nargs='+', default=list(BUDGETS),
                   choices=list(BUDGETS))
    p.add_argument('--dsb-data', default=None,
                   help='folder holding dsb2018_stage1_train_fluo and '
                   'usiigaci_nih3t3_phc (for the bench step)')
    p.add_argument('--write-reference', action='store_true',
                   help='write tools/gpu/reference_cpu.json (here, with '
                   "mmcv's compiled CPU ops) and exit")
    p.add_argument('--step', help=argparse.SUPPRESS)  # a child process
    args = p.parse_args(argv)
    args.device = args.device or ('cpu' if args.dry_run else 'cuda')
    if args.budget is None:
        args.budget = 900 if args.dry_run else 540
    return args


def _log(out, text):
    print(text, flush=True)
    with open(osp.join(out, 'gpu_check.log'), 'a') as f:
        f.write(text + '\n')


def _write(out, report):
    tmp = osp.join(out, '.gpu_check.json.tmp')
    with open(tmp, 'w') as f:
        json.dump(report, f, indent=1)
    os.replace(tmp, osp.join(out, 'gpu_check.json'))


def _child_env(args):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                  if p])
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


def _run_step(name, args, budget):
    """The step in a child process, killed after ``budget`` seconds."""
    res_path = osp.join(args.out, f'.step_{name}.json')
    cmd = [sys.executable, osp.abspath(__file__), '--out', args.out,
           '--device', args.device, '--step', name]
    cmd += ['--dry-run'] if args.dry_run else []
    cmd += ['--dsb-data', args.dsb_data] if args.dsb_data else []
    cmd += ['--budget', str(budget)]
    t0 = time.time()
    with open(osp.join(args.out, 'gpu_check.log'), 'a') as log:
        try:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                                timeout=budget, cwd=REPO,
                                env=_child_env(args)).returncode
        except subprocess.TimeoutExpired:
            return dict(status='timed out', seconds=time.time() - t0,
                        budget=budget)
    if rc != 0 or not osp.isfile(res_path):
        return dict(status='failed', returncode=rc,
                    seconds=time.time() - t0)
    with open(res_path) as f:
        res = json.load(f)
    os.remove(res_path)
    res.setdefault('status', 'ok')
    res['seconds'] = round(time.time() - t0, 2)
    return res


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.write_reference:
        path = steps.write_reference()
        print(f'reference written to {path}')
        return 0
    if args.step:  # child: one step, its result to .step_<name>.json
        try:
            res = getattr(steps, f'step_{args.step}')(args)
        except Exception as err:  # noqa: BLE001 - reported, not hidden
            import traceback
            traceback.print_exc()
            res = dict(status='failed', error=f'{type(err).__name__}: '
                       f'{str(err)[:500]}')
        with open(osp.join(args.out, f'.step_{args.step}.json'), 'w') as f:
            json.dump(res, f)
        return 0
    t_start = time.time()
    report = dict(dry_run=args.dry_run, device=args.device,
                  budget_s=args.budget, install=steps.install_info(),
                  steps={})
    _log(args.out, f'[gpu_check] {"dry run, " if args.dry_run else ""}'
         f'device {args.device}, budget {args.budget:.0f} s')
    for name in args.steps:
        left = args.budget - (time.time() - t_start)
        need = BUDGETS[name][1 if args.dry_run else 0]
        if need > left:
            res = dict(status='skipped', reason=f'needs up to {need} s, '
                       f'{left:.0f} s left')
        else:
            _log(args.out, f'[gpu_check] step {name} (budget {need} s)')
            res = _run_step(name, args, need)
        report['steps'][name] = res
        report['elapsed_s'] = round(time.time() - t_start, 1)
        _write(args.out, report)
        _log(args.out, f'[gpu_check] step {name}: ' + json.dumps(res))
    _log(args.out, f'[gpu_check] done in {report["elapsed_s"]} s -> '
         f'{osp.join(args.out, "gpu_check.json")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
