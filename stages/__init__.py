"""Pipeline stages: plain functions (store, chunk index, config) -> reference to what they wrote.

Each stage reads its inputs from the run's Zarr store and writes its outputs back under
``chunks/<k>/<group>``; it is idempotent: when the store already holds its output under the same
content key, it returns at once. Stages import the library (worldwarp) and never Prefect or MLflow.
"""

STAGES = ("geometry", "gaussians", "warp", "denoise", "handoff")
