"""The INRIA 3DGS .ply: exact round trip, standard header, clear errors."""

import pytest
import torch

from worldwarp.splat import Gaussians, load_ply, save_ply


def _random(n=50, k=4) -> Gaussians:
    torch.manual_seed(0)
    return Gaussians(means=torch.randn(n, 3), quats=torch.randn(n, 4), scales=torch.randn(n, 3),
                     opacities=torch.randn(n), sh=torch.randn(n, k, 3))


@pytest.mark.parametrize("k", [1, 4, 16])
def test_round_trip_is_exact(tmp_path, k):
    g = _random(k=k)
    save_ply(tmp_path / "g.ply", g)
    back = load_ply(tmp_path / "g.ply")
    for name, t in g.tensors().items():
        assert torch.equal(getattr(back, name), t), name


def test_header_uses_standard_names_and_channel_major_rest(tmp_path):
    g = _random(n=3, k=4)
    save_ply(tmp_path / "g.ply", g)
    raw = (tmp_path / "g.ply").read_bytes()
    header = raw[: raw.index(b"end_header")].decode()
    assert "format binary_little_endian 1.0" in header and "element vertex 3" in header
    props = [ln.split()[-1] for ln in header.splitlines() if ln.startswith("property")]
    assert props == ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(9)] + [
        "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    assert all(f"property float {p}" in header for p in props)
    from plyfile import PlyData

    v = PlyData.read(str(tmp_path / "g.ply"))["vertex"]
    # 3DGS order: f_rest_0..2 are the red channel's three degree-1 coefficients
    assert [float(v["f_rest_%d" % i][1]) for i in range(3)] == pytest.approx(g.sh[1, 1:, 0].tolist())


def test_bad_files_raise_clear_errors(tmp_path):
    save_ply(tmp_path / "g.ply", _random())
    raw = (tmp_path / "g.ply").read_bytes()
    (tmp_path / "short.ply").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "junk.ply").write_bytes(b"hello, not a ply\x00\x01")
    for name in ("short.ply", "junk.ply", "missing.ply"):
        with pytest.raises(ValueError, match=name):
            load_ply(tmp_path / name)
    from plyfile import PlyData, PlyElement
    import numpy as np

    pts = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    PlyData([PlyElement.describe(pts, "vertex")]).write(str(tmp_path / "points.ply"))
    with pytest.raises(ValueError, match="points.ply.*missing"):
        load_ply(tmp_path / "points.ply")
