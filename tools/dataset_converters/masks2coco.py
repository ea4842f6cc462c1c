# Copyright (c) mmsissi contributors. All rights reserved.
"""Convert an instance-mask folder (Cellpose ``*_img``/``*_masks`` naming or
``images/`` + ``instances/`` label maps) to COCO boxes.

Example:
    python tools/dataset_converters/masks2coco.py data/cellpose_train \
        --out data/sissi/source_train.json
"""
import argparse
import sys

from mmsissi.datasets.mask_converter import masks_to_coco


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('root', help='dataset folder')
    parser.add_argument('--out', required=True, help='output COCO json')
    parser.add_argument(
        '--layout',
        default='auto',
        choices=['auto', 'cellpose', 'instances'],
        help='folder layout (default: detect)')
    parser.add_argument('--category', default='cell', help='category name')
    parser.add_argument(
        '--min-area', type=int, default=1, help='skip smaller instances (px)')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        coco = masks_to_coco(args.root, args.out, args.layout, args.category,
                             args.min_area)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')
    print(f'{len(coco["images"])} images, {len(coco["annotations"])} boxes '
          f'-> {args.out}')


if __name__ == '__main__':
    main()
