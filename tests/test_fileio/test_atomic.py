# Copyright (c) mmsissi contributors. All rights reserved.
"""Atomic writes (mmsissi.fileio.atomic): a reader sees the old complete
file or the new one, never a partial one; a failed write leaves the old
file and no temporary."""
import json
import os

import pytest
import torch

from mmsissi.fileio import (atomic_dump_json, atomic_torch_save,
                            atomic_write, atomic_write_text)


def test_json_and_text_replace_the_file(tmp_path):
    out = tmp_path / 'sub' / 'x.json'
    atomic_dump_json({'a': 1}, str(out))
    atomic_dump_json({'a': 2}, str(out))
    assert json.loads(out.read_text()) == {'a': 2}
    atomic_write_text('é\n', str(tmp_path / 'sub' / 't.txt'))
    assert (tmp_path / 'sub' / 't.txt').read_text(encoding='utf-8') == 'é\n'
    assert sorted(os.listdir(out.parent)) == ['t.txt', 'x.json']


def test_failed_write_keeps_the_old_file(tmp_path):
    out = tmp_path / 'x.json'
    atomic_dump_json({'a': 1}, str(out))
    with pytest.raises(TypeError):
        atomic_dump_json({'a': object()}, str(out))

    def half(f):
        f.write('{"a": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(str(out), half)
    assert json.loads(out.read_text()) == {'a': 1}
    assert os.listdir(tmp_path) == ['x.json']  # no temporary left


def test_torch_save_and_umask_permissions(tmp_path):
    path = tmp_path / 'w.pth'
    atomic_torch_save({'w': torch.arange(3)}, str(path))
    assert torch.load(path)['w'].tolist() == [0, 1, 2]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
