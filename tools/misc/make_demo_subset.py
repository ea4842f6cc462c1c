# Copyright (c) mmsissi contributors. All rights reserved.
"""Rebuild the small demo subset shipped in ``demo/data`` from the full
public datasets (see demo/data/README.md for sources and licenses).

Target: 512x512 crops at native resolution of Usiigaci NIH/3T3 phase-contrast
images (train crops from set01-set45, test crops from set46-set50), with the
manual boxes clipped to the crop. Source: whole 256x256 DSB2018 fluorescence
images with both annotation versions (community-fixed and Kaggle original).

Example:
    python tools/misc/make_demo_subset.py ../shared/data demo/data
"""
import argparse
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np

CROP = 512
TRAIN = ['set01', 'set05', 'set10', 'set15', 'set20', 'set25']
TEST = ['set46', 'set48']
N_SOURCE = 16


def crop_boxes(anns, x0, y0, size, min_keep=0.5):
    out = []
    for a in anns:
        x, y, w, h = a['bbox']
        cx0, cy0 = max(x, x0), max(y, y0)
        cx1, cy1 = min(x + w, x0 + size), min(y + h, y0 + size)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        if (cx1 - cx0) * (cy1 - cy0) < min_keep * w * h:
            continue
        out.append([cx0 - x0, cy0 - y0, cx1 - cx0, cy1 - cy0])
    return out


def coco(images, boxes_by_image, category):
    anns = []
    for img in images:
        for b in boxes_by_image[img['id']]:
            anns.append(
                dict(id=len(anns) + 1, image_id=img['id'], category_id=1,
                     bbox=[int(v) for v in b], area=int(b[2] * b[3]),
                     iscrowd=0))
    return dict(images=images, annotations=anns,
                categories=[dict(id=1, name=category)])


def make_target(src, dst, rng):
    gt = json.load(open(osp.join(src, 'annotations_bbox.json')))
    by_img = {}
    for a in gt['annotations']:
        by_img.setdefault(a['image_id'], []).append(a)
    name2img = {osp.basename(i['file_name'])[:-4]: i for i in gt['images']}
    for split, stems in (('train', TRAIN), ('test', TEST)):
        os.makedirs(osp.join(dst, 'target', split), exist_ok=True)
        images, boxes = [], {}
        for stem in stems:
            info = name2img[stem]
            img = cv2.imread(osp.join(src, info['file_name']),
                             cv2.IMREAD_UNCHANGED)
            n_crops = 2 if split == 'train' else 2
            for k in range(n_crops):
                x0 = int(rng.integers(0, info['width'] - CROP + 1))
                y0 = int(rng.integers(0, info['height'] - CROP + 1))
                name = f'{stem}_{k}.png'
                cv2.imwrite(
                    osp.join(dst, 'target', split, name),
                    img[y0:y0 + CROP, x0:x0 + CROP],
                    [cv2.IMWRITE_PNG_COMPRESSION, 9])
                img_id = len(images) + 1
                images.append(dict(id=img_id, file_name=f'{split}/{name}',
                                   height=CROP, width=CROP))
                boxes[img_id] = crop_boxes(by_img[info['id']], x0, y0, CROP)
        with open(osp.join(dst, 'target', f'{split}_manual.json'), 'w') as f:
            json.dump(coco(images, boxes, 'cell'), f)


def make_source(src, dst, rng):
    fixed = json.load(open(osp.join(src, 'annotations_bbox.json')))
    orig = json.load(open(osp.join(src,
                                   'annotations_bbox_kaggle_original.json')))
    counts = {}
    for a in fixed['annotations']:
        counts[a['image_id']] = counts.get(a['image_id'], 0) + 1
    cands = [
        i for i in fixed['images']
        if i['width'] == 256 and i['height'] == 256
        and 10 <= counts.get(i['id'], 0) <= 60
    ]
    # include images where the two annotation versions differ
    def anns_of(d, name):
        ids = {i['id'] for i in d['images'] if i['file_name'] == name}
        return sorted(tuple(a['bbox']) for a in d['annotations']
                      if a['image_id'] in ids)
    differ = [i for i in cands
              if anns_of(fixed, i['file_name']) != anns_of(orig, i['file_name'])]
    same = [i for i in cands if i not in differ]
    pick = differ[:4] + [same[j] for j in rng.choice(
        len(same), N_SOURCE - len(differ[:4]), replace=False)]
    pick = sorted(pick, key=lambda i: i['file_name'])
    os.makedirs(osp.join(dst, 'source', 'images'), exist_ok=True)
    for i in pick:
        shutil.copy(osp.join(src, i['file_name']),
                    osp.join(dst, 'source', i['file_name']))
    for name, d in (('annotations_bbox.json', fixed),
                    ('annotations_bbox_kaggle_original.json', orig)):
        keep = {i['file_name'] for i in pick}
        imgs = [dict(i) for i in d['images'] if i['file_name'] in keep]
        old2new = {i['id']: k + 1 for k, i in enumerate(imgs)}
        for i in imgs:
            i['id'] = old2new[i['id']]
        anns = [dict(a, image_id=old2new[a['image_id']])
                for a in d['annotations'] if a['image_id'] in old2new]
        for k, a in enumerate(anns):
            a['id'] = k + 1
        with open(osp.join(dst, 'source', name), 'w') as f:
            json.dump(dict(images=imgs, annotations=anns,
                           categories=d['categories']), f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('shared_data', help='folder with the two datasets')
    parser.add_argument('out', help='output folder (demo/data)')
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    make_target(osp.join(args.shared_data, 'usiigaci_nih3t3_phc'), args.out,
                rng)
    make_source(osp.join(args.shared_data, 'dsb2018_stage1_train_fluo'),
                args.out, rng)


if __name__ == '__main__':
    main()
