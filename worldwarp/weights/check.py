"""`worldwarp weights check`: is a weights folder complete and the right shape? No GPU, no tensor data read.

Each component gets one row (ok, or the first problem in one line). The Wan transformer and VAE and an ST-Diff file
are compared key by key (names, shapes, floating dtypes) with the model their config builds on the meta device;
transformers folders (text encoder, Qwen2.5-VL, depth models) are checked for config, weights, shard index and
processor files, with their tensor count and parameter total from the headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..diffusion.checkpoint import CheckpointError, check_against, to_diffusers_layout
from .detect import DEPTH_TYPES, Kind, detect
from .expected import component_expected, read_config, wan_1_3b_expected
from .headers import Headers, TensorInfo, dir_headers, file_headers

_ANY_TOKENIZER = ("tokenizer.json", "spiece.model", "tokenizer_config.json", "vocab.json")


@dataclass
class Finding:
    component: str
    ok: bool
    detail: str


@dataclass
class Reference:
    """The transformer an ST-Diff file must fit."""
    label: str
    tensors: dict[str, TensorInfo]


def _count(n: int) -> str:
    return f"{n / 1e9:.3f} B" if n >= 1e9 else f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n}"


def _summary(h: Headers) -> str:
    where = f" under '{h.container}'" if h.container else ""
    return f"{len(h.tensors)} tensors, {_count(h.numel)} params, {h.dtypes}{where}"


def _compare(found: dict[str, TensorInfo], expected: dict[str, TensorInfo], source: Path) -> None:
    check_against(found, expected, source)  # missing / unexpected keys, shapes
    bad = sorted(k for k, t in found.items() if expected[k].floating and not t.floating)
    if bad:
        k = bad[0]
        raise CheckpointError(f"{source}: {len(bad)} tensors are not floating point (e.g. {k}: {found[k].dtype})")


def _diffusers_component(d: Path, label: str) -> Finding:
    if not (d / "config.json").is_file():
        return Finding(label, False, f"missing {d / 'config.json'} (expected the component in diffusers layout)")
    try:
        cls, expected = component_expected(d)
        h = dir_headers(d)
        _compare(h.tensors, expected, d)
    except CheckpointError as e:
        return Finding(label, False, str(e))
    return Finding(label, True, f"{_summary(h)}; keys and shapes match {cls}")


def _transformers_dir(d: Path, label: str, model_types: tuple[str, ...], what: str) -> Finding:
    from ..estimators.model_dir import check_model_dir

    try:
        cfg = check_model_dir(d, model_types, what)
        h = dir_headers(d)
    except CheckpointError as e:
        return Finding(label, False, str(e))
    return Finding(label, True, f"{cfg.get('model_type')}: {_summary(h)}")


def _files_present(d: Path, label: str, names: tuple[str, ...], what: str) -> Finding:
    have = [n for n in names if (d / n).is_file()]
    if have:
        return Finding(label, True, ", ".join(have))
    return Finding(label, False, f"{d} has none of {', '.join(names)} (expected {what}, saved with save_pretrained)")


def check_wan(d: Path) -> list[Finding]:
    name = d.name
    out = [_diffusers_component(d / sub, f"{name}/{sub}") for sub in ("transformer", "vae")]
    out.append(_transformers_dir(d / "text_encoder", f"{name}/text_encoder", ("umt5", "t5"), "the UMT5 text encoder"))
    out.append(_files_present(d / "tokenizer", f"{name}/tokenizer", _ANY_TOKENIZER, "the T5 tokenizer"))
    return out


def check_stdiff(path: Path, ref: Reference) -> Finding:
    label = path.name
    try:
        h = file_headers(path) if path.is_file() else dir_headers(path)
        _compare(to_diffusers_layout(h.tensors), ref.tensors, path)
    except CheckpointError as e:
        return Finding(label, False, f"{e}; reference: {ref.label}")
    return Finding(label, True, f"{_summary(h)}; keys and shapes match {ref.label} (cast to the run's dtype on load)")


def check_qwen(d: Path) -> list[Finding]:
    from ..prompts.captioner import WHAT

    return [_transformers_dir(d, f"{d.name}", ("qwen2_5_vl",), WHAT),
            _files_present(d, f"{d.name}/processor", ("preprocessor_config.json",), "the image processor config"),
            _files_present(d, f"{d.name}/tokenizer", _ANY_TOKENIZER, "the Qwen2.5 tokenizer")]


def check_depth(d: Path) -> list[Finding]:
    from ..estimators.depth_models import WHAT

    return [_transformers_dir(d, d.name, DEPTH_TYPES, " or ".join(WHAT.values())),
            _files_present(d, f"{d.name}/processor", ("preprocessor_config.json",), "the image processor config")]


def _model_type(d: Path) -> object:
    return read_config(d / "config.json").get("model_type")


def _expand(paths: Sequence[Path]) -> list[tuple[Path, Kind] | Finding]:
    """Recognised paths, in order; a folder that is none of the kinds stands for the recognised things inside it."""
    out: list[tuple[Path, Kind] | Finding] = []
    for p in paths:
        kind = detect(p)
        inside = [(c, k) for c in sorted(p.iterdir()) if (k := detect(c))] if kind is None and p.is_dir() else []
        if kind is not None:
            out.append((p, kind))
        elif inside:
            out.extend(inside)
        elif not p.exists():
            out.append(Finding(p.name or str(p), False, f"{p} not found"))
        else:
            out.append(Finding(p.name, False, f"{p} is none of: a Wan2.1 diffusers folder, an ST-Diff weights file "
                               "(.ckpt/.pt/.pth/.bin/.safetensors), a Qwen2.5-VL or depth model folder"))
    return out


def _reference(model_dir: Path | None, found: list[tuple[Path, Kind]]) -> Reference:
    """The transformer config an ST-Diff file is checked against: --model-dir, else a Wan folder being checked,
    else the built-in Wan2.1-T2V-1.3B config."""
    wan = model_dir or next((p for p, k in found if k == "wan"), None)
    if wan is None:
        return Reference("Wan2.1-T2V-1.3B (built-in config)", wan_1_3b_expected())
    return Reference(str(wan / "transformer" / "config.json"), component_expected(wan / "transformer")[1])


def _check_one(p: Path, kind: Kind) -> list[Finding]:
    if kind == "wan":
        return check_wan(p)
    if kind == "diffusers_component":
        return [_diffusers_component(p, p.name)]
    if kind == "qwen2_5_vl":
        return check_qwen(p)
    if kind == "depth":
        return check_depth(p)
    return [_transformers_dir(p, p.name, (str(_model_type(p)),), "a transformers model")]


def check(paths: Sequence[Path], model_dir: Path | None = None) -> list[Finding]:
    """One row per component of every path (a folder of several model folders is checked one by one)."""
    items = _expand([Path(p).expanduser() for p in paths])
    found = [i for i in items if isinstance(i, tuple)]
    ref: Reference | None = None
    out: list[Finding] = []
    for item in items:
        if isinstance(item, Finding):
            out.append(item)
        elif item[1] != "stdiff":
            out.extend(_check_one(*item))
        else:
            try:
                ref = ref or _reference(model_dir, found)
            except CheckpointError as e:
                out.append(Finding(item[0].name, False, f"no transformer config to check it against: {e}"))
                continue
            out.append(check_stdiff(item[0], ref))
    return out


def table(findings: Sequence[Finding]) -> list[str]:
    width = max((len(f.component) for f in findings), default=0)
    return [f"{'ok' if f.ok else 'PROBLEM':<8}{f.component:<{width + 2}}{f.detail}" for f in findings]
