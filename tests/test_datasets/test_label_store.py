# Copyright (c) mmsissi contributors. All rights reserved.
"""LabelStore under faults: the epoch file is written before the index, the
index is replaced atomically, a crash anywhere in between leaves the previous
version readable, and an index naming a missing file is a clear error."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from mmsissi.datasets import LabelStore

IMAGES = [dict(id=i, file_name=f'{i}.png', height=64, width=64)
          for i in range(1, 6)]
V1 = {i: np.array([[1, 1, 9, 9]]) for i in range(1, 6)}
V2 = {i: np.array([[5, 5, 50, 50], [10, 10, 20, 30]]) for i in range(1, 6)}


class Killed(BaseException):
    """Stands for SIGKILL: not an ``Exception``, nothing may catch it."""


def _store_with_v1(root):
    store = LabelStore(str(root))
    store.write(1, IMAGES, V1, synthesize='weak')
    return store


def _assert_v1(reader):
    assert reader.version == 1 and reader.synthesize == 'weak'
    for i in range(1, 6):
        np.testing.assert_allclose(reader.boxes(i), [[1, 1, 9, 9]])


def _listing(root):
    return sorted(os.listdir(root))


def test_epoch_file_first_then_index_by_atomic_replace(tmp_path, monkeypatch):
    """Every file becomes visible by ``os.replace`` of a complete temp file,
    the epoch file before the index, and the index is never opened in place:
    at the moment the new index appears, the file it names is complete."""
    store = _store_with_v1(tmp_path)
    old_index = (tmp_path / 'index.json').read_bytes()
    old_inode = os.stat(tmp_path / 'index.json').st_ino
    events = []
    real_replace, real_open = os.replace, open

    def replace(src, dst, *args, **kwargs):
        name = osp.basename(dst)
        if name == 'index.json':
            # the new index is complete, and names a complete epoch file
            with real_open(src) as f:
                new = json.load(f)
            assert new['file'] == 'epoch_2.json' and new['version'] == 2
            with real_open(tmp_path / new['file']) as f:
                coco = json.load(f)
            assert len(coco['annotations']) == 10
        elif name == 'epoch_2.json':
            # the index still names version 1
            assert (tmp_path / 'index.json').read_bytes() == old_index
        events.append(name)
        return real_replace(src, dst, *args, **kwargs)

    def spy_open(file, mode='r', *args, **kwargs):
        if osp.basename(str(file)) in ('index.json', 'epoch_2.json') and \
                any(m in mode for m in 'wax+'):
            events.append('open-in-place:' + osp.basename(str(file)))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, 'replace', replace)
    monkeypatch.setattr('builtins.open', spy_open)
    store.write(2, IMAGES, V2)
    monkeypatch.undo()
    assert events == ['epoch_2.json', 'index.json']
    # a new file (inode) replaced the index: it was not rewritten in place
    assert os.stat(tmp_path / 'index.json').st_ino != old_inode
    assert _listing(tmp_path) == ['epoch_1.json', 'epoch_2.json',
                                  'index.json']


def test_crash_between_epoch_file_and_index(tmp_path, monkeypatch):
    """The epoch file is in place but the process dies before the index is:
    old readers and new readers keep reading the previous version, and the
    next write works."""
    store = _store_with_v1(tmp_path)
    reader = LabelStore(str(tmp_path))
    assert reader.refresh()
    old_index = (tmp_path / 'index.json').read_bytes()
    real_replace = os.replace
    calls = []

    def replace(src, dst, *args, **kwargs):
        calls.append(osp.basename(dst))
        if len(calls) == 2:  # the second atomic write: the index
            raise Killed('killed before the index was replaced')
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, 'replace', replace)
    with pytest.raises(Killed):
        store.write(2, IMAGES, V2, synthesize='strong')
    monkeypatch.undo()
    assert calls == ['epoch_2.json', 'index.json']
    assert (tmp_path / 'index.json').read_bytes() == old_index
    assert _listing(tmp_path) == ['epoch_1.json', 'epoch_2.json',
                                  'index.json']  # no temp file left
    # the existing reader sees no change, a fresh reader reads version 1
    assert not reader.refresh()
    _assert_v1(reader)
    fresh = LabelStore(str(tmp_path))
    assert fresh.refresh()
    _assert_v1(fresh)
    # the run goes on: the next write becomes current for both
    store.write(2, IMAGES, V2, synthesize='strong')
    for r in (reader, fresh):
        assert r.refresh() and r.version == 2 and r.synthesize == 'strong'
        assert r.boxes(3).shape == (2, 4)


def test_crash_while_writing_the_index(tmp_path, monkeypatch):
    """The process dies half-way through writing the index (the second JSON
    written): the previous index.json stays byte-identical and readable."""
    store = _store_with_v1(tmp_path)
    reader = LabelStore(str(tmp_path))
    reader.refresh()
    old_index = (tmp_path / 'index.json').read_bytes()
    real_dump = json.dump
    calls = []

    def dump(obj, f, *args, **kwargs):
        calls.append(obj)
        if len(calls) < 2:
            return real_dump(obj, f, *args, **kwargs)
        text = json.dumps(obj)
        f.write(text[:len(text) // 2])  # half the index, then killed
        f.flush()
        raise Killed('killed while writing the index')

    monkeypatch.setattr(json, 'dump', dump)
    with pytest.raises(Killed):
        store.write(2, IMAGES, V2)
    monkeypatch.undo()
    assert 'annotations' in calls[0] and 'version' in calls[1]
    assert (tmp_path / 'index.json').read_bytes() == old_index
    assert not reader.refresh()
    _assert_v1(reader)
    fresh = LabelStore(str(tmp_path))
    assert fresh.refresh()
    _assert_v1(fresh)


def test_crash_while_writing_the_epoch_file(tmp_path, monkeypatch):
    """Killed during the first write: nothing of version 2 is visible."""
    store = _store_with_v1(tmp_path)
    old_index = (tmp_path / 'index.json').read_bytes()

    def dump(obj, f, *args, **kwargs):
        f.write(json.dumps(obj)[:100])
        raise Killed('killed while writing the epoch file')

    monkeypatch.setattr(json, 'dump', dump)
    with pytest.raises(Killed):
        store.write(2, IMAGES, V2)
    monkeypatch.undo()
    assert (tmp_path / 'index.json').read_bytes() == old_index
    assert _listing(tmp_path) == ['epoch_1.json', 'index.json']
    fresh = LabelStore(str(tmp_path))
    fresh.refresh()
    _assert_v1(fresh)


def test_index_naming_a_missing_file_is_a_clear_error(tmp_path):
    store = _store_with_v1(tmp_path)
    reader = LabelStore(str(tmp_path))
    reader.refresh()
    store.write(2, IMAGES, V2)
    missing = tmp_path / 'epoch_2.json'
    os.remove(missing)
    for r in (reader, LabelStore(str(tmp_path))):
        with pytest.raises(RuntimeError) as e:
            r.refresh()
        msg = str(e.value)
        assert str(missing) in msg and 'index.json' in msg
        assert 'No such file' in msg


def test_index_naming_a_corrupt_file_is_a_clear_error(tmp_path):
    store = _store_with_v1(tmp_path)
    (tmp_path / 'epoch_1.json').write_text('{"images": [')
    with pytest.raises(RuntimeError, match='epoch_1.json.*unreadable'):
        LabelStore(str(tmp_path)).refresh()
    # the store recovers with the next complete write
    store.write(2, IMAGES, V2)
    fresh = LabelStore(str(tmp_path))
    assert fresh.refresh() and fresh.version == 2
