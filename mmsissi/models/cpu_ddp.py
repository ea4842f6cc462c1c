# Copyright (c) mmsissi contributors. All rights reserved.
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

__all__ = ['MMCPUDistributedDataParallel']


@MODEL_WRAPPERS.register_module()
class MMCPUDistributedDataParallel:
    """Build an :class:`MMDistributedDataParallel` for a model on the CPU.

    MMEngine's runner passes ``device_ids=[LOCAL_RANK]`` to every
    ``DistributedDataParallel`` subclass, which torch rejects for CPU
    modules. This factory is not a subclass, so the runner builds it
    without ``device_ids``; it returns a plain
    :class:`MMDistributedDataParallel` with ``device_ids=None``. Used by
    ``tools/train.py`` on machines without CUDA (multi-process training
    over gloo, e.g. in CI).

    Args:
        module (nn.Module): The model.
        **kwargs: Other ``DistributedDataParallel`` arguments.
    """

    def __new__(cls, module, **kwargs):
        kwargs.pop('device_ids', None)
        kwargs.pop('output_device', None)
        return MMDistributedDataParallel(
            module=module, device_ids=None, **kwargs)
