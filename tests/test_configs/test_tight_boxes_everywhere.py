# Copyright (c) mmsissi contributors. All rights reserved.
"""No training pipeline maps boxes by mmdet's corner rule: every config
and the noisy-label benchmark rotate with TightRandomAffine (ellipse)."""
import glob

import pytest
from mmengine.config import Config

from benchmarks import noisy_labels as nl
from tests.helpers.noisy_bench import bench_argv


def _affines(pipeline):
    """Every affine transform of a pipeline, inside RandomApply too."""
    for t in pipeline:
        if t['type'] == 'RandomApply':
            yield from _affines(t['transforms'])
        elif 'Affine' in t['type']:
            yield t


def _train_pipelines(cfg):
    ds = cfg.train_dataloader.dataset
    for d in ds.get('datasets', [ds]):
        yield d['pipeline']


CONFIGS = sorted(glob.glob('configs/sissi/*.py') +
                 glob.glob('configs/detectors/*.py'))


@pytest.mark.parametrize('path', CONFIGS)
def test_configs_rotate_with_tight_boxes(path):
    cfg = Config.fromfile(path)
    found = [t for p in _train_pipelines(cfg) for t in _affines(p)]
    assert len(found) == 2  # target and source
    for t in found:
        assert t['type'] == 'TightRandomAffine'
        assert t.get('box_rule', 'ellipse') == 'ellipse'


def test_benchmark_rotates_with_tight_boxes(tmp_path, demo_data):
    args = nl.parse_args(bench_argv(demo_data, tmp_path / 'b'))
    paths = nl.prepare_data(args, str(tmp_path / 'data'))
    for row in ('clean', 'baseline', 'a_sissi_s'):
        cfg = nl.build_config(row, args, paths)
        found = [t for p in _train_pipelines(cfg) for t in _affines(p)]
        assert [t['type'] for t in found] == ['TightRandomAffine'] * 2
