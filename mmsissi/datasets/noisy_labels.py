# Copyright (c) mmsissi contributors. All rights reserved.
"""Reproducible corruption of a clean COCO box file: missing cells,
shifted / rescaled boxes and false boxes, the kinds of error weak labels
from image processing make. Used to build noisy-label benchmarks on data
whose truth is known (``tools/make_noisy_labels.py``)."""
import copy
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from mmsissi.structures import sanitize_boxes

__all__ = ['corrupt_coco', 'split_coco']


def _check_rate(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0 or not np.isfinite(value):
        raise ValueError(f'--{name} must be in [0, 1], got {value}')
    return value


def corrupt_coco(coco: dict,
                 drop: float = 0.5,
                 jitter: float = 0.15,
                 spurious: float = 0.1,
                 seed: int = 0) -> Tuple[dict, dict]:
    """Corrupt the boxes of a clean COCO dict.

    Per image, with one seeded generator (the same inputs give the same
    output): each box is dropped with probability ``drop``; each kept box
    has its centre shifted by up to ``jitter`` of its width / height and its
    width and height scaled by a factor in ``[1 - jitter, 1 + jitter]``;
    then ``round(spurious * n)`` false boxes are added (``n``: the image's
    clean boxes), sized like a random clean box of the image and placed
    uniformly inside it. Every box passes the box rule (clipped, >= 1 px).

    Args:
        coco (dict): Clean COCO dict (``images``, ``annotations``,
            ``categories``).
        drop (float): Fraction of boxes removed, in [0, 1].
        jitter (float): Relative shift / scale noise, in [0, 1].
        spurious (float): False boxes per clean box, in [0, 1].
        seed (int): Random seed.

    Returns:
        tuple[dict, dict]: The corrupted COCO dict (same images and
        categories; annotations with ``noise`` = ``'kept'`` or
        ``'spurious'``) and a summary of counts.
    """
    drop = _check_rate('drop', drop)
    jitter = _check_rate('jitter', jitter)
    spurious = _check_rate('spurious', spurious)
    rng = np.random.default_rng(seed)
    by_image = {im['id']: [] for im in coco['images']}
    for ann in coco['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    out, counts = [], dict(images=len(coco['images']), clean=0, dropped=0,
                           kept=0, spurious=0)
    for im in coco['images']:
        anns = by_image[im['id']]
        xywh = np.array([a['bbox'][:4] for a in anns],
                        np.float64).reshape(-1, 4)
        counts['clean'] += len(xywh)
        keep = rng.random(len(xywh)) >= drop
        kept = xywh[keep]
        cx = kept[:, 0] + kept[:, 2] / 2
        cy = kept[:, 1] + kept[:, 3] / 2
        u = rng.uniform(-jitter, jitter, (len(kept), 4))
        w = kept[:, 2] * (1 + u[:, 2])
        h = kept[:, 3] * (1 + u[:, 3])
        cx, cy = cx + u[:, 0] * kept[:, 2], cy + u[:, 1] * kept[:, 3]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        n_false = int(round(spurious * len(xywh))) if len(xywh) else 0
        if n_false:
            size = xywh[rng.integers(0, len(xywh), n_false), 2:]
            x1 = rng.uniform(0, 1, n_false) * np.maximum(
                im['width'] - size[:, 0], 0)
            y1 = rng.uniform(0, 1, n_false) * np.maximum(
                im['height'] - size[:, 1], 0)
            false = np.stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1]], 1)
            boxes = np.concatenate([boxes, false])
        kinds = ['kept'] * int(keep.sum()) + ['spurious'] * n_false
        boxes, ok = sanitize_boxes(boxes.round(2),
                                   (im['height'], im['width']))
        kinds = [k for k, o in zip(kinds, ok) if o]
        counts['dropped'] += int((~keep).sum())
        counts['kept'] += kinds.count('kept')
        counts['spurious'] += kinds.count('spurious')
        cat = anns[0]['category_id'] if anns else (
            coco['categories'][0]['id'] if coco.get('categories') else 1)
        for (x1, y1, x2, y2), kind in zip(boxes.astype(float), kinds):
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)
            out.append(dict(id=len(out) + 1, image_id=im['id'],
                            category_id=cat, bbox=[round(x1, 2),
                                                   round(y1, 2), w, h],
                            area=round(w * h, 2), iscrowd=0, noise=kind))
    result = copy.deepcopy({k: v for k, v in coco.items()
                            if k != 'annotations'})
    result['annotations'] = out
    result.setdefault('info', {})
    result['info'] = dict(result['info'], noise=dict(
        drop=drop, jitter=jitter, spurious=spurious, seed=seed))
    counts['total'] = len(out)
    return result, counts


def split_coco(coco: dict,
               sizes: Sequence[int],
               names: Sequence[str] = ('train', 'val', 'test'),
               seed: int = 0,
               max_side: Optional[int] = None) -> Dict[str, dict]:
    """Seeded disjoint split of a COCO dict's images.

    Images (optionally only those whose height and width are at most
    ``max_side``) are shuffled with one seeded generator and cut into
    consecutive parts of the given sizes; each part keeps its images'
    annotations and the categories. The same inputs give the same split.

    Args:
        coco (dict): COCO dict.
        sizes (Sequence[int]): Number of images per part; ``-1`` for the
            last part means "all the rest".
        names (Sequence[str]): Part names, as many as ``sizes``.
        seed (int): Random seed. Defaults to 0.
        max_side (int, optional): Keep only images with both sides at most
            this. Defaults to None (all images).

    Returns:
        dict[str, dict]: part name -> COCO dict.

    Raises:
        ValueError: When the parts need more images than there are.
    """
    if len(sizes) != len(names):
        raise ValueError(f'{len(sizes)} sizes for {len(names)} names')
    images = [im for im in coco['images'] if max_side is None or
              max(im['height'], im['width']) <= max_side]
    order = np.random.default_rng(seed).permutation(len(images))
    sizes = list(sizes)
    fixed = sum(n for n in sizes if n >= 0)
    if any(n < 0 for n in sizes[:-1]) or fixed > len(images):
        raise ValueError(
            f'cannot split {len(images)} images'
            f'{"" if max_side is None else f" (sides <= {max_side})"} '
            f'into {dict(zip(names, sizes))}')
    if sizes[-1] < 0:
        sizes[-1] = len(images) - fixed
    by_image: Dict[int, list] = {}
    for ann in coco['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    parts, start = {}, 0
    for name, n in zip(names, sizes):
        ims = [images[i] for i in sorted(order[start:start + n])]
        start += n
        part = copy.deepcopy({k: v for k, v in coco.items()
                              if k not in ('images', 'annotations')})
        part['images'] = copy.deepcopy(ims)
        part['annotations'] = copy.deepcopy(
            [a for im in ims for a in by_image.get(im['id'], [])])
        parts[name] = part
    return parts
