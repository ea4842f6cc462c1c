# Copyright (c) mmsissi contributors. All rights reserved.
from .channel_shuffle import RandomChannelShuffle
from .gaussian_blur import RandomGaussianBlur
from .loading import LoadCellImageFromFile
from .sanitize_boxes import SanitizeBoxes
from .seamless_synth import SeamlessSynth
from .tight_affine import TightRandomAffine

__all__ = [
    'LoadCellImageFromFile', 'RandomChannelShuffle', 'RandomGaussianBlur',
    'SanitizeBoxes', 'SeamlessSynth', 'TightRandomAffine'
]
