# Copyright (c) mmsissi contributors. All rights reserved.
"""The benchmark's data: a seeded split of the clean target file, the
training labels (corrupted from the clean ones, given in a file, or made by
the weak-label pipeline on the training images) and the source split."""
import argparse
import copy
import hashlib
import json
import os
import os.path as osp
import sys

import numpy as np

from mmsissi.datasets.noisy_labels import corrupt_coco, split_coco
from mmsissi.fileio import atomic_dump_json, atomic_write_text

__all__ = ['category_map', 'load_coco', 'given_labels', 'weak_labels',
           'prepare_data']


def category_map(text):
    """``'a=b,c=d'`` -> ``{'a': 'b', 'c': 'd'}`` (argparse type)."""
    out = {}
    for item in text.split(','):
        if '=' not in item:
            raise argparse.ArgumentTypeError(
                f'category map "{text}": expected NAME=CLASS[,NAME=CLASS]')
        k, v = item.split('=', 1)
        out[k.strip()] = v.strip()
    return out


def load_coco(path):
    """Read a COCO file; a missing, non-JSON or non-COCO file exits with
    an error naming it."""
    if not osp.isfile(path):
        sys.exit(f'error: {path}: no such COCO file')
    try:
        with open(path) as f:
            coco = json.load(f)
    except ValueError as e:
        sys.exit(f'error: {path}: not a JSON file ({e})')
    missing = {'images', 'annotations', 'categories'} - set(coco)
    if missing:
        sys.exit(f'error: {path}: not a COCO file (no {sorted(missing)})')
    return coco


def _base(im):
    return osp.basename(str(im['file_name']).replace('\\', '/'))


def _names(images, what):
    names = [_base(im) for im in images]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        sys.exit(f'error: {what}: image names {dup[:5]} occur more than '
                 'once (images are matched by file name)')
    return names


def given_labels(given, given_path, train, train_path):
    """The given training labels on the training split's images.

    Images are matched by file name (without folders). The result has
    exactly the training split's image entries (ids, file names, sizes)
    and category, and the given file's boxes, so every later step treats it
    like the corrupted labels.

    Args:
        given (dict): COCO dict of the given labels.
        given_path (str): Its file, for the error messages.
        train (dict): COCO dict of the training split (clean labels).
        train_path (str): Its file (or what it was split from).

    Returns:
        dict: A COCO dict.

    Raises:
        SystemExit: When the given file has images that are not in the
            training split, lacks some training images, or gives an image
            another size (both files are named).
    """
    have = dict(zip(_names(given['images'], given_path), given['images']))
    want = dict(zip(_names(train['images'], train_path), train['images']))
    extra, lost = sorted(set(have) - set(want)), sorted(set(want) - set(have))
    if extra or lost:
        sys.exit(
            f'error: the training labels {given_path} do not cover the '
            f'training split of {train_path}: '
            + '; '.join(s for s in (
                f'{len(extra)} image(s) not in the training split '
                f'({", ".join(extra[:5])})' if extra else '',
                f'{len(lost)} training image(s) missing ('
                f'{", ".join(lost[:5])})' if lost else '') if s))

    def size(im):
        return im.get('height'), im.get('width')

    sizes = [n for n in have if None not in size(have[n])
             and size(have[n]) != size(want[n])]
    if sizes:
        n = sizes[0]
        sys.exit(f'error: the training labels {given_path} were made at '
                 f'another size than {train_path}: {len(sizes)} image(s), '
                 f'e.g. {n} {have[n]["width"]}x{have[n]["height"]} vs '
                 f'{want[n]["width"]}x{want[n]["height"]}')
    cat = train['annotations'][0]['category_id'] if train[
        'annotations'] else train['categories'][0]['id']
    new_id = {have[n]['id']: want[n]['id'] for n in have}
    anns = []
    for a in given['annotations']:
        if a.get('image_id') not in new_id:
            continue  # an annotation of no listed image: COCO skips it too
        x, y, w, h = (float(v) for v in a['bbox'][:4])
        anns.append(dict(id=len(anns) + 1, image_id=new_id[a['image_id']],
                         category_id=cat, bbox=[x, y, w, h], area=w * h,
                         iscrowd=int(a.get('iscrowd', 0)),
                         score=float(a.get('score', 1.0))))
    out = copy.deepcopy({k: v for k, v in train.items()
                         if k != 'annotations'})
    out['annotations'] = anns
    out['info'] = dict(out.get('info', {}), given=osp.abspath(given_path))
    return out


def weak_labels(train, img_prefix, out, params=None):
    """Run the weak-label pipeline (``tools/weak_labels.py``'s) on the
    training split's images, once: the result is cached in ``out`` and
    reused while the images and parameters are the same.

    Args:
        train (dict): COCO dict of the training split.
        img_prefix (str): Folder the ``file_name`` entries are relative to.
        out (str): COCO file to write.
        params (dict, optional): Weak-label parameter overrides.

    Returns:
        tuple[str, dict]: The file and ``{'precision', 'recall', 'f1'}``
        of the weak labels against the training split's clean boxes.
    """
    from mmsissi.weak_labels import run_weak_labels
    from mmsissi.weak_labels.boxes import coco_to_boxes, evaluate_boxes
    names = sorted(_base(im) for im in train['images'])
    dirs = {osp.dirname(osp.join(img_prefix, im['file_name']))
            for im in train['images']}
    if len(dirs) != 1:
        sys.exit(f'error: weak labels need the training images in one '
                 f'folder, found {sorted(dirs)[:3]}')
    folder = dirs.pop()
    key = hashlib.sha1(json.dumps(
        [names, params or {}, osp.abspath(folder)],
        sort_keys=True).encode()).hexdigest()
    stamp = out + '.key'
    if not (osp.isfile(out) and osp.isfile(stamp)
            and open(stamp).read() == key):
        if osp.isfile(stamp):
            os.remove(stamp)  # a kill below must not leave an old stamp
        print(f'weak labels of {len(names)} training images -> {out}',
              flush=True)
        run_weak_labels(folder, out=out, params=params, names=names,
                        root=img_prefix, progress=False)
        atomic_write_text(key, stamp)
    pred = coco_to_boxes(load_coco(out))
    gt = coco_to_boxes(train)
    m = evaluate_boxes({k: pred.get(k, np.zeros((0, 4))) for k in gt}, gt)
    return out, {k: m[k] for k in ('precision', 'recall', 'f1')}


def _training_labels(args, train, out_dir):
    """The training labels the noisy rows train on, and a summary line."""
    if args.weak_labels:
        path, m = weak_labels(train, args.target_img_prefix,
                              osp.join(out_dir, 'weak_labels.json'),
                              args.weak_label_params)
        given_path = path
        what = (f'weak labels (P {m["precision"]:.2f} / R {m["recall"]:.2f}'
                ' vs the clean boxes)')
    elif args.target_train_ann:
        given_path, what = args.target_train_ann, 'given labels'
    else:
        noisy, counts = corrupt_coco(train, drop=args.drop,
                                     jitter=args.jitter,
                                     spurious=args.spurious, seed=args.seed)
        return noisy, (f'{counts["clean"]} clean -> {counts["total"]} '
                       f'corrupted ({counts["dropped"]} dropped, '
                       f'{counts["spurious"]} spurious)')
    noisy = given_labels(load_coco(given_path), given_path, train,
                         args.target_ann)
    return noisy, (f'{len(train["annotations"])} clean, '
                   f'{len(noisy["annotations"])} {what} from {given_path}')


def prepare_data(args, out_dir):
    """Split the target, make its noisy training labels, split the source.

    The split (or a preset's fixed ``split_files``: part -> COCO file)
    and the labels depend on ``args.seed`` (the data seed) only,
    not on the training seeds, so every row and seed trains on the same
    labels.

    Returns:
        dict: name -> COCO file: ``train_clean``, ``train_noisy``, ``val``,
        ``test`` (target) and ``source_train``, ``source_val``.
    """
    os.makedirs(out_dir, exist_ok=True)
    fixed = getattr(args, 'split_files', None)
    if fixed:  # a preset's fixed split (the demo's held-out crops)
        parts = {k: load_coco(fixed[k]) for k in ('train', 'val', 'test')}
    else:
        parts = split_coco(load_coco(args.target_ann), args.split,
                           seed=args.seed, max_side=args.max_side)
    noisy, what = _training_labels(args, parts['train'], out_dir)
    source = load_coco(args.source_ann)
    src = split_coco(source, [args.source_val, -1], ('val', 'train'),
                     seed=args.seed, max_side=args.source_max_side)
    files = dict(train_clean=parts['train'], train_noisy=noisy,
                 val=parts['val'], test=parts['test'],
                 source_train=src['train'], source_val=src['val'])
    paths = {k: osp.join(out_dir, f'{k}.json') for k in files}
    for k, v in files.items():
        atomic_dump_json(v, paths[k])
    print(f'target: {len(parts["train"]["images"])} train / '
          f'{len(parts["val"]["images"])} val / '
          f'{len(parts["test"]["images"])} test images; training labels '
          f'{what}; source: {len(src["train"]["images"])} train / '
          f'{len(src["val"]["images"])} val images', flush=True)
    return paths
