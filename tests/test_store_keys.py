"""Content keys, digests and run ids: change exactly when what went into them changes."""

import numpy as np
import pytest
from pydantic import BaseModel

from worldwarp.store import StoreError, array_digest, content_key, new_run_id

BASE = dict(stage="warp", inputs=["a" * 64, "b" * 64], params={"frames": 49, "render": {"alpha": 0.5, "tol": 0.1}},
            code_version="warp-v1")


def key(**changes):
    return content_key(**{**BASE, **changes})


def test_key_is_stable_and_hex():
    k = key()
    assert k == key() and len(k) == 64 and int(k, 16) >= 0


@pytest.mark.parametrize("change", [
    {"stage": "denoise"},
    {"inputs": ["a" * 64, "c" * 64]},
    {"inputs": ["b" * 64, "a" * 64]},  # inputs have roles: order matters
    {"inputs": ["a" * 64]},
    {"params": {"frames": 50, "render": {"alpha": 0.5, "tol": 0.1}}},
    {"params": {"frames": 49, "render": {"alpha": 0.5, "tol": 0.2}}},
    {"params": {"frames": 49.0, "render": {"alpha": 0.5, "tol": 0.1}}},
    {"code_version": "warp-v2"},
])
def test_key_changes_with_any_ingredient(change):
    assert key(**change) != key()


def test_key_ignores_dict_order():
    reordered = {"render": {"tol": 0.1, "alpha": 0.5}, "frames": 49}
    assert key(params=reordered) == key()


def test_key_accepts_pydantic_models_as_their_json_form():
    class Knobs(BaseModel):
        frames: int = 49
        render: dict = {"alpha": 0.5, "tol": 0.1}

    assert key(params=Knobs()) == key()


def test_key_refuses_what_has_no_canonical_form():
    with pytest.raises(StoreError):
        key(params={"x": float("nan")})
    with pytest.raises(TypeError):
        key(params={"x": object()})
    with pytest.raises(TypeError):
        key(inputs="abc")


def test_a_knob_rekeys_exactly_the_downstream_stages():
    def chain(p2):
        k1 = content_key("geometry", ["input"], {"p": 1}, "v1")
        k2 = content_key("gaussians", [k1], {"p": p2}, "v1")
        k3 = content_key("warp", [k2], {"p": 3}, "v1")
        return k1, k2, k3

    a, b = chain(2), chain(20)
    assert a[0] == b[0] and a[1] != b[1] and a[2] != b[2]


def test_array_digest_tracks_values_dtype_shape_not_byte_order():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = array_digest(a)
    assert array_digest(a.copy()) == d
    assert array_digest(a.astype(">f4")) == d
    assert array_digest(np.asfortranarray(a)) == d
    b = a.copy()
    b[1, 2] += 1e-6
    assert array_digest(b) != d
    assert array_digest(a.astype(np.float64)) != d
    assert array_digest(a.reshape(4, 3)) != d
    with pytest.raises(StoreError):
        array_digest(np.array([{"x": 1}], dtype=object))


def test_run_id_is_deterministic_and_content_bound():
    p = {"seed": 0, "chunk": {"frames": 49}}
    rid = new_run_id(p, "d1")
    assert rid == new_run_id({"chunk": {"frames": 49}, "seed": 0}, "d1")
    assert rid != new_run_id(p, "d2")
    assert rid != new_run_id({**p, "seed": 1}, "d1")
    assert rid.startswith("run-")
