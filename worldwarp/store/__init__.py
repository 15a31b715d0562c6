"""The artifact store: one Zarr v3 store per run, content-keyed stage groups published all-or-nothing.

    store = RunStore.open_or_create(root, new_run_id(params, digest), params=params,
                                    input_digest=digest, code_version="...", total_frames=N, frame_shape=(H, W))
    key = content_key("warp", [upstream_key], {"frames": 49}, "warp-v1")
    if not store.is_complete(k, "warp", key):
        store.write_stage(k, "warp", key, {"rgb": rgb, "mask": mask}, {"history": 5})
    rgb = store.read_array(k, "warp", "rgb", frames=slice(0, 5))
"""

from .errors import StoreError
from .keys import array_digest, canonical_json, content_key, new_run_id
from .links import ArrayLink
from .refs import StageRef, StageStatus, SummaryRow, Verification
from .run import RunStore

__all__ = ["ArrayLink", "RunStore", "StageRef", "StageStatus", "StoreError", "SummaryRow", "Verification", "array_digest",
           "canonical_json", "content_key", "new_run_id"]
