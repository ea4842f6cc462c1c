# Copyright (c) mmsissi contributors. All rights reserved.
"""Small COCO files and demo-data arguments for the noisy-label
benchmark's tests."""
import json

__all__ = ['coco', 'write', 'bench_argv']


def coco(boxes_by_name, folder='images', ids=None, size=64, category=1):
    """A COCO dict: ``{name: [[x1, y1, x2, y2], ...]}`` -> images under
    ``folder`` (ids 1.. unless ``ids``), one category ``cell``."""
    images, anns = [], []
    for i, (name, boxes) in enumerate(boxes_by_name.items()):
        iid = ids[i] if ids else i + 1
        images.append(dict(id=iid, file_name=f'{folder}/{name}',
                           height=size, width=size))
        for x1, y1, x2, y2 in boxes:
            anns.append(dict(id=len(anns) + 1, image_id=iid,
                             category_id=category,
                             bbox=[x1, y1, x2 - x1, y2 - y1], iscrowd=0))
    return dict(images=images, annotations=anns,
                categories=[dict(id=category, name='cell')])


def write(path, obj):
    """Write ``obj`` as JSON to a ``pathlib.Path``; return it as str."""
    path.write_text(json.dumps(obj))
    return str(path)


def bench_argv(demo_data, work_dir, split=('6', '3', '3')):
    """Benchmark options on the demo data: DSB crops as target, the demo
    fibroblasts as source."""
    return ['--target-ann', str(demo_data / 'source' /
                                'annotations_bbox.json'),
            '--target-category-map', 'nucleus=cell',
            '--source-ann', str(demo_data / 'target' / 'train_manual.json'),
            '--source-category-map', 'cell=cell', '--source-val', '2',
            '--split', *split, '--work-dir', str(work_dir)]
