"""Cameras, trajectories and alignment. Convention: see ``worldwarp.geometry.cameras``."""
