# Copyright (c) mmsissi contributors. All rights reserved.
"""The suite cleans up after itself (CI ran out of disk when every test's
``tmp_path`` stayed): a passed test's directory is gone when the next test
runs, and MMEngine's per-name globals do not leak from one test to the next.

The tests run in file order; each ``_first`` test leaves something behind
that the test after it checks."""
from mmengine.logging import MessageHub
from mmengine.visualization import Visualizer

_SEEN = {}
_NAME = 'test_suite_hygiene_20261207_000000'  # like a Runner's timestamp


def test_first_writes_into_its_tmp_path(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'\0' * 1024)
    _SEEN['tmp_path'] = tmp_path


def test_a_passed_tests_tmp_path_is_removed():
    assert 'tmp_path' in _SEEN, 'run the whole file, in order'
    assert not _SEEN['tmp_path'].exists()


def test_first_registers_runner_globals(tmp_path):
    vis = Visualizer.get_instance(
        _NAME, vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    MessageHub.get_instance(_NAME).update_info('iter', 99)
    _SEEN['vis'] = vis


def test_the_next_test_gets_fresh_ones(tmp_path):
    assert 'vis' in _SEEN, 'run the whole file, in order'
    assert _NAME not in Visualizer._instance_dict
    vis = Visualizer.get_instance(
        _NAME, vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    assert vis is not _SEEN['vis']
    assert MessageHub.get_instance(_NAME).get_info('iter') is None
