"""WorldWarp longshot: one photo to a long camera-controlled video.

The library holds the algorithms (tensors in, tensors out). It imports no Prefect, MLflow or DVC:
orchestration lives in the top-level packages ``stages`` and ``flows``.
"""

__version__ = "0.1.0"

import logging as _logging

# torchao (lowvram's int8 weights, worldwarp/quantize.py) is imported by diffusers whenever it is installed, and
# warns at import about its optional C++/CUDA kernels and torch.compile registrations that this torch build lacks;
# the int8 weight-only path uses none of them, so those warnings would only alarm every run
for _name in ("torchao", "torch.utils._pytree"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)
