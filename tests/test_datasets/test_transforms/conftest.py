# Copyright (c) mmsissi contributors. All rights reserved.
"""Fixtures of the transform tests."""
import pytest
from transform_helpers import make_cells


@pytest.fixture(scope='module')
def cells():
    img, boxes = make_cells()
    return img, boxes[:8], boxes[8:]  # labelled, unlabelled
