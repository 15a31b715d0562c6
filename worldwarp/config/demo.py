"""CPU-friendly settings of the embedded demo: a procedural scene, no weights, >= 3 chunks."""

DEMO_OVERRIDES: list[str] = [
    "resolution.height=160",
    "resolution.width=256",
    "chunk.frames=17",
    "chunk.history=5",
    "chunk.count=4",
    "splat.steps=150",
    "splat.subsample=1",
    "trajectory.preset=forward",
    "trajectory.distance=2.0",
    "trajectory.fov_deg=60.0",  # the demo scenes and their measured figures use 60 degrees
    "diffusion.backend=classical",
]
