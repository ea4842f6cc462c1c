# Copyright (c) mmsissi contributors. All rights reserved.
"""Tiles and the tile factor (mmsissi.apis.counting.tiling)."""
import json

import numpy as np
import pytest
import torch
from counting_helpers import BIG, tiny_cfg
from mmengine.config import Config

from mmsissi.apis import init_counter, tile_windows


def test_tile_windows_cover_with_overlap():
    h, w = BIG
    win = tile_windows(h, w, 512, 0.2)
    assert len(win) == 4 * 3
    assert (win[:, 2] - win[:, 0] == 512).all()
    assert (win[:, 3] - win[:, 1] == 512).all()
    covered = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in win:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    xs, ys = np.unique(win[:, 0]), np.unique(win[:, 1])
    assert (np.diff(xs) <= 512 * 0.8).all() and (np.diff(ys) <= 512 * 0.8)\
        .all()
    assert win[:, 2].max() == w and win[:, 3].max() == h
    # an axis shorter than the tile: one tile of its own length
    assert tile_windows(300, 2000, 512, 0.2)[:, 3].tolist() == [300] * 5
    assert tile_windows(400, 500, 512, 0.2).tolist() == [[0, 0, 500, 400]]


@pytest.mark.slow  # runs a real (untrained) detector
def test_auto_tile_factor_from_the_checkpoint_config(tmp_path, tiny_model):
    """'auto' prefers the training config saved in the checkpoint (e.g.
    trained with --cfg-options pointing at other images) to CONFIG's."""
    from mmsissi.apis import checkpoint_train_cfg
    cfg_path, ckpt = tiny_model
    assert checkpoint_train_cfg(ckpt) is None  # torch.save without cfg
    ann = tmp_path / 'big_images.json'
    ann.write_text(json.dumps(dict(
        images=[dict(id=i, file_name=f'{i}.png', width=1024, height=1022)
                for i in range(3)], annotations=[], categories=[])))
    train_cfg = tiny_cfg()
    train_cfg.train_dataloader.dataset.datasets[0].ann_file = str(ann)
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    state['meta']['cfg'] = train_cfg.pretty_text
    ckpt2 = tmp_path / 'with_cfg.pth'
    torch.save(state, ckpt2)
    assert checkpoint_train_cfg(str(ckpt2)).train_dataloader.dataset\
        .datasets[0].ann_file == str(ann)
    counter = init_counter(cfg_path, str(ckpt2), device='cpu')
    assert counter.tile_factor == pytest.approx(8.0)  # 1024 px / 128
    assert counter.tile_size == 1024
    assert 'checkpoint' in counter.describe()
    # explicit factors win; unreadable training images: 1.0 with a note
    assert init_counter(cfg_path, str(ckpt2), device='cpu',
                        tile_factor=2.0).tile_size == 256
    broken = Config.fromfile(cfg_path)
    broken.train_dataloader.dataset.datasets[0].ann_file = 'nope.json'
    counter = init_counter(broken, ckpt, device='cpu')
    assert counter.tile_factor == 1.0 and counter.tile_size == 128
    assert 'nope.json' in counter.describe()
