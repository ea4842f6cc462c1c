# Copyright (c) mmsissi contributors. All rights reserved.
"""The noisy-label benchmark (``benchmarks/noisy_labels.py``), by concern:

- :mod:`.data`: split, corrupted or given training labels, weak labels;
- :mod:`.configs`: the rows' configs at benchmark scale;
- :mod:`.branch`: branch checkpoints and label bookkeeping;
- :mod:`.report`: seeds, gap recovered, CSV, PNG and the printed summary;
- :mod:`.presets`: the two benchmarks and the quick regime;
- :mod:`.cli`: the command line and the resumable run.
"""
