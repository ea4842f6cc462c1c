# Copyright (c) mmsissi contributors. All rights reserved.
from .missing_label_ce import (MissingLabelCrossEntropyLoss,
                               confident_background)

__all__ = ['MissingLabelCrossEntropyLoss', 'confident_background']
