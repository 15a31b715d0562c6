"""The CUT3R/TTT3R architecture's numbers, and the model string a released checkpoint stores in ``args.model``.

The released ``cut3r_512_dpt_4_64.pth`` holds ``{"model": state_dict, "args": Namespace(model="ARCroco3DStereo(
ARCroco3DStereoConfig(...))", ...)}``. The string is read with ``ast`` (never evaluated): only keyword constants,
tuples and ``inf`` are accepted. Keywords that do not change the architecture or inference (freeze,
patch_embed_cls, landscape_only, ...) are accepted and ignored; unknown ones are an error naming them.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, fields, replace

# keywords of the authors' config that do not change weights or what inference computes
IGNORED = frozenset({"freeze", "patch_embed_cls", "landscape_only", "mask_ratio", "depth_head", "pose_conf_head",
                     "norm_layer", "model_update_type"})


class Ttt3rConfigError(ValueError):
    """A model string that is not a CUT3R/TTT3R configuration we can build."""


@dataclass(frozen=True)
class Cut3rConfig:
    img_size: tuple[int, int] = (512, 512)
    patch_size: int = 16
    enc_embed_dim: int = 1024
    enc_depth: int = 24
    enc_num_heads: int = 16
    dec_embed_dim: int = 768
    dec_depth: int = 12
    dec_num_heads: int = 12
    state_size: int = 768
    state_pe: str = "2d"
    state_dec_num_heads: int = 16
    local_mem_size: int = 256
    ray_enc_depth: int = 2
    mlp_ratio: float = 4.0
    pos_embed: str = "RoPE100"
    head_type: str = "dpt"
    output_mode: str = "pts3d+pose"
    rgb_head: bool = True
    pose_head: bool = True
    norm_im2_in_dec: bool = True
    # widths of the DPT heads: fixed in the authors' head (256; 96/192/384/768); smaller only for stand-ins
    dpt_feature: int = 256
    dpt_layer_dims: tuple = (96, 192, 384, 768)
    depth_mode: tuple = ("exp", -math.inf, math.inf)
    conf_mode: tuple = ("exp", 1, math.inf)
    pose_mode: tuple = ("exp", -math.inf, math.inf)

    @property
    def rope_freq(self) -> float:
        return float(self.pos_embed[len("RoPE"):])

    def check(self) -> "Cut3rConfig":
        problems = []
        if len(self.dpt_layer_dims) != 4:
            problems.append(f"dpt_layer_dims {self.dpt_layer_dims} (four widths)")
        if not self.pos_embed.startswith("RoPE"):
            problems.append(f"pos_embed={self.pos_embed!r} (only RoPE models are supported)")
        if (self.head_type, self.output_mode) != ("dpt", "pts3d+pose") or not self.pose_head:
            problems.append(f"head_type={self.head_type!r}, output_mode={self.output_mode!r}, pose_head="
                            f"{self.pose_head} (TTT3R needs the DPT head with a pose head)")
        if self.state_pe != "2d":
            problems.append(f"state_pe={self.state_pe!r} (only '2d')")
        for mode in (self.depth_mode, self.pose_mode):
            if mode[0] != "exp" or mode[1:] != (-math.inf, math.inf):
                problems.append(f"mode {mode} (only ('exp', -inf, inf))")
        for name, dim, heads in (("enc", self.enc_embed_dim, self.enc_num_heads), ("dec", self.dec_embed_dim,
                                 self.dec_num_heads), ("state", self.dec_embed_dim, self.state_dec_num_heads)):
            if dim % heads or (dim // heads) % 4:
                problems.append(f"{name} width {dim} with {heads} heads (RoPE-2D needs a head width divisible by 4)")
        if any(s % self.patch_size for s in self.img_size):
            problems.append(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if problems:
            raise Ttt3rConfigError("unsupported CUT3R configuration: " + "; ".join(problems))
        return self


def _value(node: ast.AST):
    if isinstance(node, ast.Name) and node.id == "inf":
        return math.inf
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand)
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_value(e) for e in node.elts)
    if isinstance(node, ast.Constant):
        return node.value
    raise Ttt3rConfigError(f"model string: unsupported value {ast.unparse(node)!r}")


def parse_model_string(text: str) -> Cut3rConfig:
    """``ARCroco3DStereo(ARCroco3DStereoConfig(k=v, ...))`` -> Cut3rConfig (checked)."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise Ttt3rConfigError(f"model string is not a Python call: {e.msg}") from None
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "ARCroco3DStereo"
            and len(call.args) == 1 and isinstance(call.args[0], ast.Call)):
        call = call.args[0]
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "ARCroco3DStereoConfig"):
        raise Ttt3rConfigError(f"model string is not ARCroco3DStereo(ARCroco3DStereoConfig(...)): {text[:80]!r}")
    known = {f.name for f in fields(Cut3rConfig)}
    kw, unknown = {}, []
    for k in call.keywords:
        if k.arg in known:
            v = _value(k.value)
            kw[k.arg] = tuple(v) if isinstance(v, tuple) else v
        elif k.arg not in IGNORED:
            unknown.append(k.arg)
    if unknown:
        raise Ttt3rConfigError(f"model string has keywords this implementation does not know: {', '.join(unknown)}")
    if isinstance(kw.get("img_size"), int):
        kw["img_size"] = (kw["img_size"], kw["img_size"])
    return replace(Cut3rConfig(), **kw).check()


RELEASED = Cut3rConfig()  # cut3r_512_dpt_4_64.pth, as its stored model string builds it

# a stand-in with the released architecture at small widths and depths (CI, the CPU demo)
TINY = Cut3rConfig(img_size=(64, 64), enc_embed_dim=64, enc_depth=2, enc_num_heads=4, dec_embed_dim=64, dec_depth=4,
                   dec_num_heads=4, state_size=16, local_mem_size=8, dpt_feature=32, dpt_layer_dims=(16, 16, 32, 32))
# the same with the authors' fixed DPT widths: what their code builds (the parity fixture's configuration)
TINY_AUTHORS_DPT = replace(TINY, dpt_feature=256, dpt_layer_dims=(96, 192, 384, 768))


def model_string(cfg: Cut3rConfig) -> str:
    """The authors' model string for ``cfg`` (what a release-format checkpoint stores)."""
    def fmt(v):
        if isinstance(v, float) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if isinstance(v, tuple):
            return "(" + ", ".join(fmt(x) for x in v) + ")"
        return repr(v)

    body = ", ".join(f"{f.name}={fmt(getattr(cfg, f.name))}" for f in fields(cfg))
    return f"ARCroco3DStereo(ARCroco3DStereoConfig({body}, landscape_only=False))"
