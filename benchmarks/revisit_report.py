"""The revisit benchmark's report: metrics.json (DVC metrics), results.md, psnr_per_frame.png, revisit_matrix.png,
from the per-run JSON files benchmarks/revisit.py wrote into one folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SUMMARY = ("revisit_psnr_mean", "revisit_psnr_min", "revisit_ssim_mean")
AT_FRAMES = (50, 200, 500, 1000)  # the decay read-out: PSNR/SSIM against the exact render at these frames


def revisit_matrix(r: dict) -> np.ndarray:
    """Frame x frame PSNR between visits (NaN where poses differ): from the sparse rows, or the dense matrix that
    runs before 2026-12-07 stored."""
    if "revisit_matrix" in r:
        return np.array(r["revisit_matrix"], dtype=float)
    near = r["revisit_near"]
    m = np.full(near["shape"], np.nan)
    for i, j, v in near["rows"]:
        m[i, j] = v
    return m


def _at_frames(r: dict) -> dict:
    """PSNR/SSIM at each frame of AT_FRAMES the run has, and the PSNR mean over the 9 frames around it (one frame's
    value moves with what happens to be in view; the window says the trend)."""
    psnr, ssim = r["psnr"], r["ssim"]
    return {str(f): {"psnr": psnr[f], "ssim": ssim[f], "psnr_window9": float(np.mean(psnr[max(f - 4, 0):f + 5]))}
            for f in AT_FRAMES if f < len(psnr)}


def _row(r: dict) -> dict:
    pc = r["per_chunk"]
    g = [c["gaussians"] for c in pc]
    back_holes = [c["hole_fraction"] for c in pc if c["chunk"] >= len(pc) // 2]
    t = [c["gaussians_s"] for c in pc]
    return {**{k: r.get(k) for k in SUMMARY}, "out_psnr": r["leg_psnr"]["out"], "back_psnr": r["leg_psnr"]["back"],
            "out_ssim": r["leg_ssim"]["out"], "back_ssim": r["leg_ssim"]["back"],
            "chunk_psnr": [round(c["psnr"], 2) for c in pc], "worst_vs_chunk1_db": min(c["psnr"] for c in pc[1:]) - pc[1]["psnr"]
            if len(pc) > 1 else 0.0, "hole_fraction_back_mean": float(np.mean(back_holes)), "gaussians": g,
            "gaussians_last_over_chunk3": g[-1] / g[3] if len(g) > 3 else None, "gaussians_stage_s_mean": float(np.mean(t[1:])),
            "chunk_wall_s_mean": float(np.mean(r["chunk_wall_s"][1:])), "peak_rss_mb": r["peak_rss_mb"],
            "chunk_wall_s_last_over_chunk2": r["chunk_wall_s"][-1] / r["chunk_wall_s"][2] if len(pc) > 2 else None,
            "peak_gpu_gib": r.get("peak_gpu_gib"), "at_frames": _at_frames(r),
            "retrieved": [c["retrieved"] for c in pc], "revisit_by_holes": (r.get("revisit_by_holes") or {}).get("all")}


def write(out: Path, date: str, machine: str) -> None:
    runs = [json.loads(p.read_text()) for p in sorted(out.glob("*.json")) if p.name != "metrics.json"]
    if not runs:
        raise SystemExit(f"{out}: no run results (benchmarks/revisit.py run ... --out {out})")
    rows = {r["name"]: _row(r) for r in runs}
    first = runs[0]
    gpus = sorted({r["device"] for r in runs if r.get("peak_gpu_gib") is not None})
    if gpus:  # the runs ran elsewhere (a GPU machine): name what they recorded, not where the report is written
        machine = ", ".join(gpus) + " (recorded by the runs)"
    meta = {"date": date, "machine": machine, "size": first["size"], "chunks": first["chunks"], "steps": first["steps"]}
    (out / "metrics.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=1))
    lines = [f"{date}, {machine}; {first['size'][0]}x{first['size'][1]}, {first['chunks']} chunks, "
             f"{first['steps']} 3DGS steps", "",
             "| run | revisit PSNR mean / min | revisit SSIM | out / back PSNR | worst chunk vs 1 (dB) | holes back | "
             "Gaussians (first..last) | gaussians stage s/chunk | chunk s | peak RSS MB |", "|" + "---|" * 10]
    for n, r in rows.items():
        rev = (f"{r['revisit_psnr_mean']:.2f} / {r['revisit_psnr_min']:.2f}" if r["revisit_psnr_mean"] is not None
               else "n/a (offset)")
        lines.append(f"| {n} | {rev} | {r['revisit_ssim_mean'] or float('nan'):.3f} | {r['out_psnr']:.2f} / "
                     f"{r['back_psnr']:.2f} | {r['worst_vs_chunk1_db']:+.2f} | {100 * r['hole_fraction_back_mean']:.1f} % | "
                     f"{r['gaussians'][0]}..{r['gaussians'][-1]} | {r['gaussians_stage_s_mean']:.1f} | "
                     f"{r['chunk_wall_s_mean']:.1f} | {r['peak_rss_mb']:.0f} |")
    if any(len(r["at_frames"]) > 1 for r in rows.values()):  # a long run: the decay by frame, time and GPU memory
        lines += ["", "| run | " + " | ".join(f"frame {f}: PSNR (9-frame mean) / SSIM" for f in AT_FRAMES) +
                  " | last chunk s / chunk 2 s | peak GPU GiB |", "|" + "---|" * (len(AT_FRAMES) + 3)]
        for n, r in rows.items():
            cells = [f"{a['psnr']:.2f} ({a['psnr_window9']:.2f}) / {a['ssim']:.3f}" if (a := r["at_frames"].get(str(f)))
                     else "—" for f in AT_FRAMES]
            ratio, gpu = r["chunk_wall_s_last_over_chunk2"], r["peak_gpu_gib"]
            lines.append(f"| {n} | " + " | ".join(cells) + f" | {ratio:.2f} | " + (f"{gpu:.2f}" if gpu else "—") + " |")
    split = {n: r["revisit_by_holes"] for n, r in rows.items() if r["revisit_by_holes"]}
    if split:  # where the two visits differ: in what the cache carried, or in what a filler invented
        classes = list(next(iter(split.values())))  # revisit.py's by_holes classes, in its order
        lines += ["", "Where the two visits differ, by which visit filled the pixel (share of pixels / share of the squared "
                  "difference / PSNR between the visits there):", "",
                  "| run | " + " | ".join(c.replace("_", " ") for c in classes) + " |", "|" + "---|" * (len(classes) + 1)]
        for n, b in split.items():
            lines.append(f"| {n} | " + " | ".join(
                f"{100 * b[c]['pixel_share']:.1f} % / {100 * b[c]['error_share']:.0f} % / "
                + (f"{b[c]['psnr']:.1f}" if b[c]["psnr"] is not None else "same" if b[c]["pixel_share"] else "—")
                for c in classes) + " |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    _plots(out, runs)
    print("\n".join(lines))


def _plots(out: Path, runs: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r["path"], r["filler"]) for r in runs})
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 3 * len(groups)), squeeze=False)
    for ax, (path, filler) in zip(axes[:, 0], groups):
        for r in runs:
            if (r["path"], r["filler"]) == (path, filler):
                ax.plot(r["psnr"], label=r["mode"])
        ax.axvline(runs[0].get("back_start", (runs[0]["frames"] + 1) // 2), color="grey", lw=0.5)
        rest = [v for r in runs if (r["path"], r["filler"]) == (path, filler) for v in r["psnr"][1:]]
        ax.set_ylim(min(rest) - 1, max(rest) + 1)  # frame 0 is the input itself (~59 dB): off the scale
        ax.set(title=f"{path} return, {filler} filler", xlabel="frame", ylabel="PSNR vs exact (dB)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "psnr_per_frame.png", dpi=90)
    ident = [r for r in runs if r["path"] == "identical"]
    if ident:
        fig, axes = plt.subplots(1, len(ident), figsize=(3.2 * len(ident), 3.2), squeeze=False)
        for ax, r in zip(axes[0], ident):
            m = revisit_matrix(r)
            im = ax.imshow(m, vmin=15, vmax=45, cmap="viridis", aspect="auto")
            ax.set(title=f"{r['filler']} {r['mode']}", xlabel="back frame", ylabel="out frame")
        fig.colorbar(im, ax=axes[0].tolist(), label="PSNR between visits (dB)")
        fig.savefig(out / "revisit_matrix.png", dpi=90)
    plt.close("all")
