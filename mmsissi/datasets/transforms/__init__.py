# Copyright (c) mmsissi contributors. All rights reserved.
from .channel_shuffle import RandomChannelShuffle
from .gaussian_blur import RandomGaussianBlur
from .seamless_synth import SeamlessSynth

__all__ = ['RandomChannelShuffle', 'RandomGaussianBlur', 'SeamlessSynth']
