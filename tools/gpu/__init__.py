# Copyright (c) mmsissi contributors. All rights reserved.
"""The GPU check (``tools/gpu_check.sh``): its steps, the torchvision
backed ``mmcv._ext`` and the wheel download."""
