# Copyright (c) mmsissi contributors. All rights reserved.
"""Image reading for the whole project.

Images of any common microscopy flavour (8- or 16-bit, grayscale, RGB or
RGBA, PNG / TIFF / JPEG / BMP) are decoded by :func:`read_raw_image` (clear
:class:`ImageReadError` naming the file when they cannot be), then
converted by

- :func:`to_gray_float` / :func:`read_image`: single-channel ``float32`` in
  ``[0, 1]`` by a percentile stretch, so that the weak-label detectors see
  16-bit originals and 8-bit exports alike;
- :func:`to_bgr_uint8`: the detector's ``uint8`` BGR input, the same array
  in training (``LoadCellImageFromFile``), pseudo labelling and counting.

:func:`list_images` lists the image files of a folder.
"""
import contextlib
import fnmatch
import logging
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'IMAGE_EXTENSIONS', 'ImageReadError', 'read_raw_image', 'read_image',
    'to_gray_float', 'to_bgr_uint8', 'list_images'
]

#: File extensions picked up when no ``pattern`` is given (lower case).
IMAGE_EXTENSIONS = ('.png', '.tif', '.tiff', '.jpg', '.jpeg', '.bmp')


class ImageReadError(RuntimeError):
    """Raised when an image file cannot be decoded.

    Args:
        path (str): The file.
        reason (str): What went wrong.
    """

    def __init__(self, path: str, reason: str):
        super().__init__(f'{path}: {reason}')
        self.path = path
        self.reason = reason


@contextlib.contextmanager
def _quiet_decoders():
    """Silence OpenCV's and tifffile's own logging while decoding (the
    failure is reported once, by :class:`ImageReadError`)."""
    old_cv = None
    try:
        old_cv = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # very old OpenCV builds
        pass
    tif_logger = logging.getLogger('tifffile')
    old_tif = tif_logger.level
    tif_logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        tif_logger.setLevel(old_tif)
        if old_cv is not None:
            cv2.utils.logging.setLogLevel(old_cv)


def read_raw_image(path: str) -> np.ndarray:
    """Decode ``path`` without any conversion.

    OpenCV (``cv2.imdecode`` with ``IMREAD_UNCHANGED``, i.e. what
    ``cv2.imread`` does, but safe for non-ASCII paths) is tried first; TIFFs
    that OpenCV cannot decode (e.g. float16, exotic compression) fall back to
    :mod:`tifffile` (first plane of a stack).

    Args:
        path (str): Image file.

    Returns:
        np.ndarray: The decoded array (H, W) or (H, W, C), channels in BGR(A)
        order when it came from OpenCV.

    Raises:
        ImageReadError: When no reader can decode the file.
    """
    if not osp.isfile(path):
        raise ImageReadError(path, 'no such file')
    if osp.getsize(path) == 0:
        raise ImageReadError(path, 'empty file (0 bytes)')
    with _quiet_decoders():
        return _decode(path)


def _decode(path: str) -> np.ndarray:
    """Body of :func:`read_raw_image` (decoder logging silenced)."""
    img = None
    try:
        # np.fromfile + imdecode copes with non-ASCII paths on all platforms
        buf = np.fromfile(path, dtype=np.uint8)
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except (cv2.error, OSError, ValueError):
        img = None
    ext = osp.splitext(path)[1].lower()
    if img is None and ext in ('.tif', '.tiff'):
        try:
            import tifffile
            img = np.asarray(tifffile.imread(path))
        except Exception as e:  # noqa: BLE001 - any decoder failure
            raise ImageReadError(
                path, f'cannot decode TIFF ({type(e).__name__}: {e})')
        if img.size == 0:
            raise ImageReadError(
                path, 'cannot decode TIFF (no image data: corrupt or '
                'truncated file)')
        # multi-page / z-stacks: keep the first plane
        while img.ndim > 3 or (img.ndim == 3 and img.shape[-1] > 4
                               and img.shape[0] <= img.shape[-1]):
            img = img[0]
        if img.ndim == 3 and img.shape[-1] in (3, 4):
            # tifffile gives RGB(A); convert to OpenCV's BGR(A) convention
            img = img[..., [2, 1, 0] + ([3] if img.shape[-1] == 4 else [])]
    if img is None:
        raise ImageReadError(
            path, 'cannot decode image (corrupt, truncated or unsupported '
            'format)')
    if img.size == 0 or img.ndim not in (2, 3):
        raise ImageReadError(
            path, f'decoded to an unusable array of shape {img.shape}')
    return img


def to_gray_float(img: np.ndarray,
                  percentiles: Tuple[float, float] = (0.5, 99.5)
                  ) -> np.ndarray:
    """Convert any decoded image to float32 grayscale in ``[0, 1]``.

    Colour images are converted to luminance (alpha is dropped), then the
    intensities are stretched so that the given low/high percentiles map to
    0 and 1 (values outside are clipped). A constant image maps to zeros.

    Args:
        img (np.ndarray): (H, W), (H, W, 1), (H, W, 2) gray + alpha,
            (H, W, 3) BGR or (H, W, 4) BGRA array of any numeric dtype.
        percentiles (tuple[float, float]): Low and high percentiles of the
            stretch. Defaults to (0.5, 99.5).

    Returns:
        np.ndarray: (H, W) float32 array in ``[0, 1]``.
    """
    img = np.asarray(img)
    if img.ndim == 3:
        if img.shape[-1] <= 2:  # gray or gray + alpha
            img = img[..., 0]
        else:
            bgr = img[..., :3].astype(np.float32)
            img = (0.114 * bgr[..., 0] + 0.587 * bgr[..., 1] +
                   0.299 * bgr[..., 2])
    img = img.astype(np.float32)
    img[~np.isfinite(img)] = 0
    lo, hi = np.percentile(img, percentiles)
    if hi <= lo:
        lo, hi = float(img.min()), float(img.max())
    if hi <= lo:
        return np.zeros(img.shape, np.float32)
    out = (img - lo) / (hi - lo)
    return np.clip(out, 0, 1).astype(np.float32)


def read_image(path: str,
               percentiles: Tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Read an image file as float32 grayscale in ``[0, 1]``.

    Args:
        path (str): Image file (PNG, TIFF, JPEG, BMP; 8/16-bit; gray, RGB or
            RGBA).
        percentiles (tuple[float, float]): Percentile stretch, see
            :func:`to_gray_float`.

    Returns:
        np.ndarray: (H, W) float32 image in ``[0, 1]``.

    Raises:
        ImageReadError: When the file is missing, empty or cannot be decoded.
    """
    return to_gray_float(read_raw_image(path), percentiles)


def list_images(images_dir: str,
                pattern: Optional[str] = None,
                names: Optional[Sequence[str]] = None,
                recursive: bool = False) -> List[str]:
    """List the image files of a folder.

    Args:
        images_dir (str): Folder to scan.
        pattern (str, optional): Glob matched against the file name (e.g.
            ``'set0*.png'``). Defaults to all :data:`IMAGE_EXTENSIONS`.
        names (Sequence[str], optional): Explicit file names (relative to
            ``images_dir``; only the base name is used when a path component
            does not exist) to keep. Applied after ``pattern``. Missing names
            are ignored here and reported by the caller.
        recursive (bool): Also look into sub-folders. Defaults to False.

    Returns:
        list[str]: Sorted absolute paths.

    Raises:
        FileNotFoundError: When ``images_dir`` does not exist or is not a
            folder.
    """
    if not osp.isdir(images_dir):
        raise FileNotFoundError(f'image folder not found: {images_dir}')
    images_dir = osp.abspath(images_dir)
    found = []
    for root, dirs, files in os.walk(images_dir):
        dirs.sort()
        for fn in sorted(files):
            if fn.startswith('.'):
                continue
            if pattern is not None:
                if not fnmatch.fnmatch(fn, pattern):
                    continue
            elif osp.splitext(fn)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            found.append(osp.join(root, fn))
        if not recursive:
            break
    if names is not None:
        wanted_rel = {osp.normpath(n) for n in names}
        wanted_base = {osp.basename(n) for n in names}
        found = [
            p for p in found if osp.relpath(p, images_dir) in wanted_rel
            or osp.basename(p) in wanted_base
        ]
    return sorted(found)


def to_bgr_uint8(img: np.ndarray,
                 percentiles: Tuple[float, float] = (0.1, 99.9)
                 ) -> np.ndarray:
    """Convert a decoded image to the detector's ``uint8`` BGR input.

    The same array the training loaders give the detector
    (``LoadImageFromFile`` for 8-bit files, ``LoadCellImageFromFile`` for
    any): 8-bit data unchanged, grayscale replicated to 3 channels, alpha
    dropped. Other depths (16-bit, 32-bit, float) become grayscale
    stretched between the given percentiles by
    :func:`to_gray_float`, rounded to 8 bits.

    Args:
        img (np.ndarray): (H, W), (H, W, 1), (H, W, 2) gray + alpha,
            (H, W, 3) BGR or (H, W, 4) BGRA array, any numeric dtype.
        percentiles (tuple[float, float]): Stretch of non-8-bit images.
            Defaults to (0.1, 99.9).

    Returns:
        np.ndarray: (H, W, 3) ``uint8`` BGR array.

    Raises:
        ValueError: For other shapes.
    """
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] in (1, 2):  # gray, gray + alpha
        img = img[..., 0]
    elif img.ndim == 3 and img.shape[-1] in (3, 4):  # BGR, BGRA
        img = img[..., :3]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] == 3)) \
            or min(img.shape[:2]) < 1:
        raise ValueError(f'unsupported image shape {img.shape}')
    if img.dtype != np.uint8:
        gray = to_gray_float(img, tuple(percentiles))
        img = np.clip(gray * 255 + 0.5, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(img)
