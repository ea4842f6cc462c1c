# Copyright (c) mmsissi contributors. All rights reserved.
"""File input and output: image reading, atomic writes, the work dir
lock."""
from .atomic import (atomic_dump_json, atomic_torch_save, atomic_write,
                     atomic_write_text)
from .image import (IMAGE_EXTENSIONS, ImageReadError, list_images,
                    read_image, read_raw_image, to_bgr_uint8, to_gray_float)
from .work_dir_lock import (WorkDirLock, WorkDirLockedError,
                            acquire_work_dir_lock)

__all__ = [
    'atomic_write', 'atomic_dump_json', 'atomic_write_text',
    'atomic_torch_save', 'IMAGE_EXTENSIONS', 'ImageReadError',
    'read_raw_image', 'read_image', 'to_gray_float', 'to_bgr_uint8',
    'list_images', 'WorkDirLock', 'WorkDirLockedError', 'acquire_work_dir_lock'
]
