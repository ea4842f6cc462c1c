# Copyright (c) mmsissi contributors. All rights reserved.
"""A user's own data: checked inputs and the child config of
``tools/sissi.py``."""
from .child_config import child_config_text, hook_roles, write_child_config
from .inputs import (OwnDataError, check_image_folder, check_reader,
                     read_coco, source_boxes)

__all__ = [
    'OwnDataError', 'check_image_folder', 'check_reader', 'read_coco',
    'source_boxes', 'hook_roles', 'child_config_text', 'write_child_config'
]
