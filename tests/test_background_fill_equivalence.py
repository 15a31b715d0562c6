"""The vectorised depth-aware filler gives exactly the old implementation's output (binary searches instead of
8 full-frame scans, one pooled tensor instead of three): fixed random masks and a fixed moving-camera chunk."""

import numpy as np
import _old_background_fill as old

from worldwarp.diffusion import background_fill as new


def test_candidates_equal_the_old_scans():
    rng = np.random.default_rng(0)
    for shape in ((5, 7), (33, 17), (48, 80)):
        valid = rng.random(shape) < 0.6
        for a, b in zip(old.directional_candidates(valid), new.directional_candidates(valid)):
            assert np.array_equal(a, b)


def _moving_chunk(F=5, H=40, W=64):
    """A box in front of a textured wall, the camera trucking right: disocclusions, cracks, new ground."""
    rng = np.random.default_rng(1)
    K = np.array([[50.0, 0, W / 2], [0, 50, H / 2], [0, 0, 1]])
    w2c = np.stack([np.eye(4)] * F)
    w2c[:, 0, 3] = -np.linspace(0, 0.3, F)
    rgb = rng.random((F, H, W, 3)).astype(np.float32)
    depth = np.full((F, H, W), 4.0)
    depth[:, 10:30, 20:36] = 1.0
    valid = rng.random((F, H, W)) > 0.25
    valid[0] = True
    alpha = np.where(valid, 1.0, rng.random((F, H, W)) * 0.6)
    return rgb, valid, depth, np.stack([K] * F), w2c, alpha


def test_fill_chunk_equals_the_old_one():
    args = _moving_chunk()
    assert np.array_equal(old.fill_chunk(*args, history=1), new.fill_chunk(*args, history=1))
