"""The one pydantic model tree for every knob: params.yaml, CLI options and flow parameters all go through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from .base import Section
from .batch import BatchConfig
from .camera import Preset, ResolutionConfig, TrajectoryConfig
from .chunk import ChunkConfig
from .diffusion import DiffusionConfig
from .estimator import EstimatorConfig
from .evaluation import EvalConfig
from .experiments import ExperimentsConfig
from .lease import LeaseConfig
from .lowvram import APPLIES as LOWVRAM_APPLIES, apply_lowvram, contradictions
from .memory import MemoryConfig, alias_fresh, unused_knobs
from .remote import RemoteConfig, split_artifacts
from .profiles import DEFAULT_PROFILE, PROFILE_NAMES, apply_profile
from .prompt import PromptConfig
from .real_photo import RealPhotoConfig
from .revisit import RevisitConfig
from .scene import SceneConfig
from .splat import SplatConfig
from .store import StoreConfig
from .tracking import TrackingConfig
from .worker import WorkerConfig


class ConfigError(ValueError):
    """A params file or override is invalid; the message is one line naming the problem."""


class WorldWarpConfig(Section):
    APPLIES = {"lowvram": LOWVRAM_APPLIES}
    profile: Literal["official", "longshot"] = Field(
        DEFAULT_PROFILE, description="official: the authors' inference knob for knob; longshot: this project's variant "
        "(see worldwarp/config/profiles.py); explicit knobs always win")
    seed: int = Field(0, ge=0, le=2**63 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    deterministic: bool = Field(False, description="bit-identical reruns on CUDA too: PyTorch's deterministic kernels and "
                                "the torch rasteriser instead of gsplat (slower; see docs/DETERMINISM.md). CPU runs are "
                                "deterministic either way")
    lowvram: bool = Field(False, description="consumer-GPU mode (target: the full-weights pipeline within 12 GiB, "
                          "not yet measured on a GPU): each model on the GPU only for its stage, then released; fills "
                          "unset knobs: diffusion.offload=model, vae_tiling, keep_text_encoder=false and 8-bit "
                          "(int8 weight-only, torchao) captioner and text encoder, which change captions and "
                          "embeddings slightly (docs/WEIGHTS.md §5); see worldwarp/config/lowvram.py. Not part of "
                          "run ids or stage keys (the knobs it fills are)")
    threads: int | None = Field(None, ge=1, le=1024, description="CPU threads for torch (torch.set_num_threads, applied "
                                "before every stage); unset: OMP_NUM_THREADS when set, else 1 (measured: "
                                "docs/DETERMINISM.md). An execution setting: not part of content keys or run ids, and "
                                "at the demo's size it changes the bits a CPU run computes")
    render_budget: int = Field(3_000_000, ge=1, description="the warp rasterises at most this many Gaussian x camera "
                               "pairs per call (cameras per call: budget // Gaussians, 1 to 8), so its GPU memory stays "
                               "bounded as a world-memory cache grows (measured: docs/BENCHMARKS.md §15g). An execution "
                               "setting: it changes no output, and is not part of content keys or run ids")
    artifacts: str = Field("artifacts", description="root of run stores and caches: a local folder, or a URL "
                           "(s3://bucket/prefix, any fsspec URL) that becomes remote.url, with a local working copy "
                           "under remote.cache (see worldwarp/config/remote.py)")
    chunk: ChunkConfig = ChunkConfig()
    resolution: ResolutionConfig = ResolutionConfig()
    trajectory: TrajectoryConfig = TrajectoryConfig()
    scene: SceneConfig = SceneConfig()
    splat: SplatConfig = SplatConfig()
    memory: MemoryConfig = MemoryConfig()
    estimator: EstimatorConfig = EstimatorConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    prompt: PromptConfig = PromptConfig()
    tracking: TrackingConfig = TrackingConfig()
    eval: EvalConfig = EvalConfig()
    experiments: ExperimentsConfig = ExperimentsConfig()
    real_photo: RealPhotoConfig = RealPhotoConfig()
    revisit: RevisitConfig = RevisitConfig()
    lease: LeaseConfig = LeaseConfig()
    remote: RemoteConfig = RemoteConfig()
    store: StoreConfig = StoreConfig()
    batch: BatchConfig = BatchConfig()
    worker: WorkerConfig = WorkerConfig()

    @model_validator(mode="before")
    @classmethod
    def _profile_layer(cls, data: Any) -> Any:
        # lowvram first: it sees only what the user set, and a profile then fills only what both left unset
        return split_artifacts(apply_profile(apply_lowvram(alias_fresh(data))))

    @field_validator("artifacts")
    @classmethod
    def _local_after_split(cls, v: str) -> str:
        # a URL was turned into remote.url + a working copy before validation; one left here came by assignment,
        # which skips that step (and would leave remote.url unset): refuse it rather than write under "s3:/..."
        if "://" in v:
            raise ValueError(f"{v!r}: give a URL artifacts root through params or overrides (load_params, validate), "
                             "not by assignment")
        return v

    @model_validator(mode="after")
    def _deterministic_backend(self) -> "WorldWarpConfig":
        if self.deterministic and self.splat.backend == "gsplat":
            raise ValueError("deterministic=true needs splat.backend=auto or torch (gsplat's backward adds with atomics)")
        return self

    @model_validator(mode="after")
    def _lowvram_consistent(self) -> "WorldWarpConfig":
        broken = contradictions(self)
        if broken:
            raise ValueError(broken[0])
        return self

    @model_validator(mode="after")
    def _memory_knobs_apply(self, info: ValidationInfo) -> "WorldWarpConfig":
        if (info.context or {}).get("stored"):  # what a store ran with (validate_stored), not a knob asked for now
            return self
        unused = unused_knobs(self.memory, self.splat.dedup)
        if unused:
            raise ValueError(unused[0])
        return self

    @model_validator(mode="after")
    def _input_depth_has_a_model(self) -> "WorldWarpConfig":
        if self.scene.depth_estimator == "model" and self.estimator.backend == "ground_truth":
            raise ValueError("scene.depth_estimator=model needs estimator.backend=depth_anything, depth_pro or ttt3r")
        return self


def _one_line(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "params"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        parts.append(f"{loc}: {msg}")
    return "invalid params: " + "; ".join(parts)


def validate(data: dict[str, Any], *, stored: bool = False) -> WorldWarpConfig:
    """``stored``: ``data`` is what a run store ran with (see validate_stored), so knobs that a newer default or
    rule would not read are not refused."""
    try:
        return WorldWarpConfig.model_validate(data, context={"stored": stored})
    except ValidationError as err:
        raise ConfigError(_one_line(err)) from None


def validate_stored(params: dict[str, Any]) -> WorldWarpConfig:
    """The config of a run store's params (with its settings merged in, if any): ``validate`` after the knobs the
    store leaves out are filled with the values it ran with (config/stored.py)."""
    from .stored import with_later_knobs

    return validate(with_later_knobs(params), stored=True)


def parse_override(text: str) -> tuple[list[str], Any]:
    """'splat.steps=100' -> (['splat', 'steps'], 100); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = yaml.safe_load(yaml.safe_dump(data)) or {}
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for p in path[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {p} is not a section")
        node[path[-1]] = value
    return out


def load_params(path: str | Path | None = None, overrides: list[str] | None = None) -> WorldWarpConfig:
    """Read a params.yaml (or defaults when None), apply key=value overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"params file {p} is a directory")
        if not p.is_file():
            raise ConfigError(f"params file not found: {p}")
        from worldwarp.checks.files import read_text_file, read_yaml_text

        try:
            data = read_yaml_text(read_text_file(p), f"params file {p}") or {}
        except ValueError as e:  # not UTF-8, not YAML, a key twice: the file and line, one line
            raise ConfigError(str(e)) from None
        if not isinstance(data, dict):
            raise ConfigError(f"params file {p} must hold a mapping at the top level")
    return validate(apply_overrides(data, overrides or []))


def dump_params(cfg: WorldWarpConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


__all__ = [
    "BatchConfig", "ChunkConfig", "ConfigError", "DiffusionConfig", "LeaseConfig", "RemoteConfig", "Preset", "ResolutionConfig", "SceneConfig",
    "SplatConfig", "TrajectoryConfig", "WorkerConfig", "WorldWarpConfig", "apply_overrides", "dump_params",
    "load_params", "validate", "validate_stored",
]
