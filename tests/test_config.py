import subprocess
import sys
from pathlib import Path

import pytest

from worldwarp.config import ConfigError, WorldWarpConfig, load_params
from worldwarp.config.demo import DEMO_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_is_valid_and_holds_the_defaults():
    cfg = load_params(ROOT / "params.yaml")
    assert cfg == WorldWarpConfig()
    assert cfg.chunk.frames == 49 and cfg.chunk.history == 5


def test_overrides_are_parsed_as_yaml_values():
    cfg = load_params(None, ["splat.steps=7", "diffusion.guidance_scale=1.0", "trajectory.preset=orbit_left"])
    assert cfg.splat.steps == 7 and cfg.diffusion.guidance_scale == 1.0
    assert cfg.trajectory.preset == "orbit_left"


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("splat.stepz=3", "splat.stepz: unknown key"),
        ("chunk.frames=48", "1 + 4n"),
        ("chunk.history=49", "smaller than chunk.frames"),
        ("resolution.width=100", "multiple of 16"),
        ("diffusion.sigma_start=1.5", "diffusion.sigma_start"),
        ("trajectory.preset=sideways", "trajectory.preset"),
        ("bogus=1", "bogus: unknown key"),
    ],
)
def test_bad_values_give_one_line_errors(override, fragment):
    with pytest.raises(ConfigError) as exc:
        load_params(None, [override])
    msg = str(exc.value)
    assert fragment in msg and "\n" not in msg


def test_bad_params_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("chunk: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_demo_overrides_are_cpu_sized():
    cfg = load_params(None, DEMO_OVERRIDES)
    assert cfg.chunk.count >= 3
    assert cfg.resolution.height * cfg.resolution.width <= 256 * 256
    assert cfg.diffusion.backend == "classical"


def test_total_frames():
    cfg = load_params(None, ["chunk.frames=49", "chunk.history=5", "chunk.count=23"])
    assert cfg.chunk.total_frames == 49 + 22 * 44


def test_import_worldwarp_pulls_no_orchestration():
    code = (
        "import sys, worldwarp, worldwarp.config, worldwarp.geometry.cameras\n"
        "import pkgutil, importlib\n"
        "for m in pkgutil.walk_packages(worldwarp.__path__, 'worldwarp.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in {'prefect', 'mlflow', 'dvc', 'gradio'})\n"
        "print(bad); assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _float_knobs(model: type, prefix: str = "") -> list[str]:
    """Every knob of the config tree that is a float (or float | None), sections walked recursively."""
    import types
    import typing

    from pydantic import BaseModel

    out = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        union = typing.get_origin(ann) in (typing.Union, types.UnionType)
        args = typing.get_args(ann) if union else (ann,)  # float | None, not tuple[float, float]
        sub = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if sub:
            out += _float_knobs(sub[0], f"{prefix}{name}.")
        elif float in args:
            out.append(f"{prefix}{name}")
    return out


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_a_non_finite_knob_is_refused_by_name(value):
    """Any float knob set to NaN or an infinity is one line naming the knob ("a finite number"), never a bound it
    happens to fail (NaN compares false with every bound) or an error later where the value reaches a key."""
    knobs = _float_knobs(WorldWarpConfig)
    assert len(knobs) > 40 and "memory.seed_budget" in knobs and "splat.lr_means" in knobs
    for knob in knobs:
        with pytest.raises(ConfigError) as exc:
            load_params(None, [f"{knob}={value}"])
        msg = str(exc.value)
        assert f"{knob}: Input should be a finite number" in msg and "\n" not in msg, (knob, msg)
