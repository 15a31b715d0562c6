"""WorldWarp longshot: one photo to a long camera-controlled video.

The library holds the algorithms (tensors in, tensors out). It imports no Prefect, MLflow or DVC:
orchestration lives in the top-level packages ``stages`` and ``flows``.
"""

__version__ = "0.1.0"
