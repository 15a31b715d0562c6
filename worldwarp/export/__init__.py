"""Exports of a run: mp4, cameras.npz, a 3DGS .ply, nerfstudio transforms.json, a Blender import script."""

from .files import export_all, export_blender, export_cameras, export_mp4, export_nerfstudio, export_ply

__all__ = ["export_all", "export_blender", "export_cameras", "export_mp4", "export_nerfstudio", "export_ply"]
