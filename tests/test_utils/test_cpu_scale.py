# Copyright (c) mmsissi contributors. All rights reserved.
"""--cpu-scale keeps a row's experiment (criterion, synthesis, fusion) and
shrinks the rest: one pass over the demo crops per epoch, the CPU warm-up
out of ADELE's fit, the start cap within the schedule."""
import json

from mmengine.config import Config

from mmsissi.utils import apply_cpu_scale
from mmsissi.utils.cpu_scale import CPU_MAX_EPOCHS, CPU_WARMUP_ITERS


def test_cpu_scale_keeps_the_experiment():
    full = Config.fromfile('configs/sissi/a_sissi_s.py')
    cfg = apply_cpu_scale(full)
    assert cfg.train_dataloader.sampler.iters_per_epoch is None
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.train_cfg.max_epochs == CPU_MAX_EPOCHS
    adele, plh = cfg.custom_hooks
    n = len(json.load(open('demo/data/target/train_weak.json'))['images'])
    iters = -(-n // 2)  # 2 target images per batch
    assert adele['warmup_epochs'] == -(-CPU_WARMUP_ITERS // iters)
    assert adele['max_start_epoch'] == CPU_MAX_EPOCHS // 2
    assert adele['threshold'] == full.custom_hooks[0]['threshold']
    # the row's fusion and blur are untouched
    assert cfg.tta_model == full.tta_model
    assert plh['synthesize'] == 'strong'
    # every resize scaled by the same ratio, the TTA views included

    def scales(pipeline):
        tta = next(t for t in pipeline if t['type'] == 'TestTimeAug')
        return [t['scale'] for t in tta['transforms'][0]]
    assert scales(cfg.tta_pipeline) == [(205, 205), (230, 230), (256, 256),
                                        (282, 282), (307, 307)]
    assert scales(plh['dataloader']['dataset']['pipeline']) == scales(
        cfg.tta_pipeline)
    assert scales(full.tta_pipeline)[2] == (512, 512)  # not modified
    # the hooks' loaders point at the demo target crops, initial labels
    weak = 'demo/data/target/train_weak.json'
    for h in (adele, plh):
        assert h['dataloader']['dataset']['ann_file'] == weak
    assert cfg.train_dataloader.dataset.datasets[0].ann_file == weak
    # the old demo config's test settings: fewer proposals on small crops
    assert cfg.model.test_cfg.rpn.max_per_img == 500
    assert cfg.model.test_cfg.rcnn.max_per_img == 300
    cfg = apply_cpu_scale(full, max_epochs=6)
    assert cfg.custom_hooks[0]['max_start_epoch'] == 3
    assert cfg.train_cfg.max_epochs == 6
    # the full-size config itself is not modified
    assert full.train_dataloader.sampler.iters_per_epoch == 56


def test_table1_reads_start_and_cause(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('table1',
                                                  'benchmarks/table1.py')
    table1 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table1)
    assert table1.read_start(str(tmp_path)) == (None, '-')
    (tmp_path / 'sissi_start.json').write_text(json.dumps(
        dict(epoch=7, cause='criterion', criterion='ADELEHook')))
    assert table1.read_start(str(tmp_path)) == (7, 'criterion')
    assert table1.ROWS[0] == 'supervised' and len(table1.ROWS) == 7


def test_val_loss_loader_stays_on_the_source():
    cfg = apply_cpu_scale(Config.fromfile('configs/sissi/baseline.py'))
    val = cfg.custom_hooks[0]['dataloader']['dataset']
    assert val['ann_file'] == 'demo/data/source/annotations_bbox.json'
    assert cfg.custom_hooks[1]['dataloader']['dataset']['ann_file'] == \
        'demo/data/target/train_weak.json'
