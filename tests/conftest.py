# Copyright (c) mmsissi contributors. All rights reserved.
import os
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / 'demo' / 'data'
SHARED = Path(
    os.environ.get('MMSISSI_SHARED_DATA',
                   REPO.parent / 'shared' / 'data')).resolve()

warnings.filterwarnings('ignore', message='pkg_resources is deprecated')


@pytest.fixture(scope='session')
def repo_root():
    return REPO


@pytest.fixture(scope='session')
def demo_data():
    assert DEMO.is_dir(), f'demo subset missing at {DEMO}'
    return DEMO


@pytest.fixture(scope='session')
def shared_data():
    if not (SHARED / 'usiigaci_nih3t3_phc').is_dir():
        pytest.skip(f'shared data not found at {SHARED}')
    return SHARED


def pytest_configure(config):
    os.chdir(REPO)  # configs use repo-relative paths
    import mmsissi  # noqa: F401  registers everything once
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)  # default scope 'mmdet'


def _subclasses(cls):
    yield cls
    for sub in cls.__subclasses__():
        yield from _subclasses(sub)


@pytest.fixture(autouse=True)
def _no_runner_globals_across_tests():
    """Forget the visualizers, message hubs and loggers a test's runners
    registered. MMEngine keys them by the experiment name, a timestamp to
    the second, so a runner built in the same second as the previous test's
    would reuse its visualizer and write into that test's (already
    removed, see ``tmp_path_retention_policy``) work dir."""
    yield
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.visualization import Visualizer
    for base in (Visualizer, MessageHub, MMLogger):
        for cls in _subclasses(base):
            cls._instance_dict.clear()
