"""PNG figures for ``selfinstruct stats --plots DIR`` (matplotlib, Agg backend).

Three figures, named ``<prefix>_<what>.png``:

* ``lengths``: histograms of words per instruction, non-empty input and output;
* ``rouge_to_seed``: ROUGE-L of each instruction to its most similar seed instruction;
* ``verbs``: the top root verbs (inner ring) and their top direct objects (outer ring), a
  sunburst like the paper's diversity figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError

_STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "figure.titlesize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": 150,
}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UserError("--plots needs matplotlib (pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _hist(ax: Any, values: list[float], color: str, title: str, xlabel: str, clip: float) -> None:
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        return
    upper = max(1.0, math.ceil(float(np.percentile(arr, clip))))
    bins = np.linspace(0, upper, min(40, int(upper) + 1) + 1)
    clipped = np.clip(arr, 0, upper)
    ax.hist(clipped, bins=bins, color=color, edgecolor="white", linewidth=0.5)
    median = float(np.median(arr))
    ax.axvline(median, color="#333333", linestyle="--", linewidth=1)
    ax.text(
        0.97,
        0.95,
        f"n = {arr.size:,}\nmedian = {median:g}\nmean = {arr.mean():.1f}",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=9,
        bbox={"facecolor": "white", "edgecolor": "#cccccc", "boxstyle": "round,pad=0.3"},
    )
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    if arr.max() > upper:
        ax.annotate(
            f"last bar: ≥ {upper:g} words ({int((arr >= upper).sum()):,})",
            xy=(0.97, 0.60),
            xycoords="axes fraction",
            ha="right",
            fontsize=8,
            color="#555555",
        )


def plot_lengths(raw: dict[str, Any], path: Path, name: str) -> None:
    plt = _pyplot()
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
        _hist(axes[0], raw["words_instruction"], "#4C72B0", "Instruction", "words", 99)
        _hist(axes[1], raw["words_input"], "#55A868", "Input (non-empty)", "words", 98)
        _hist(axes[2], raw["words_output"], "#C44E52", "Output", "words", 98)
        fig.suptitle(f"Length distributions: {name}")
        fig.savefig(path)
        plt.close(fig)


def plot_rouge(scores: list[float], path: Path, name: str, n_seeds: int) -> None:
    import numpy as np

    plt = _pyplot()
    arr = np.asarray(scores, dtype=float)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 4.0), constrained_layout=True)
        ax.hist(arr, bins=np.linspace(0, 1, 21), color="#4C72B0", edgecolor="white")
        ax.axvline(0.7, color="#C44E52", linestyle=":", linewidth=1.2)
        ax.text(
            0.71,
            0.97,
            "0.7 filter\nthreshold",
            color="#C44E52",
            fontsize=9,
            transform=ax.get_xaxis_transform(),
            va="top",
        )
        if arr.size:
            med = float(np.median(arr))
            ax.axvline(med, color="#333333", linestyle="--", linewidth=1)
            ax.text(
                med + 0.01,
                0.80,
                f"median\n{med:.2f}",
                fontsize=9,
                transform=ax.get_xaxis_transform(),
                va="top",
            )
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"ROUGE-L F with the most similar of {n_seeds} seed instructions")
        ax.set_ylabel("number of instructions")
        ax.set_title(f"Overlap with seed instructions: {name} (n = {arr.size:,})")
        fig.savefig(path)
        plt.close(fig)


def _radial_text(
    ax: Any, angle_deg: float, radius: float, text: str, size: float, **kw: Any
) -> None:
    """Text centred at (angle, radius), rotated along the radius and kept upright."""
    theta = math.radians(angle_deg)
    rotation = angle_deg if -90 <= ((angle_deg + 180) % 360) - 180 <= 90 else angle_deg + 180
    ax.text(
        radius * math.cos(theta),
        radius * math.sin(theta),
        text,
        rotation=rotation,
        rotation_mode="anchor",
        ha="center",
        va="center",
        fontsize=size,
        **kw,
    )


def plot_verbs(
    top_verbs: list[dict[str, Any]], path: Path, name: str, summary: dict[str, Any]
) -> None:
    """Sunburst: inner ring = top verbs by count, outer ring = each verb's top objects.

    Inner wedge angles are proportional to each verb's count among the shown verbs; a verb's
    outer wedges split its angle among its top objects in proportion to their counts (as in
    the paper's figure); a grey outer wedge means the verb had no noun direct object.
    """
    plt = _pyplot()
    from matplotlib import colormaps
    from matplotlib.patches import Wedge

    total = sum(row["count"] for row in top_verbs)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(10, 10), constrained_layout=True)
        ax.set_aspect("equal")
        ax.axis("off")
        if not total:
            ax.text(0.5, 0.5, "no verb–object data", ha="center", va="center")
            fig.savefig(path)
            plt.close(fig)
            return
        cmap = colormaps["tab20"]
        hole, inner_r, outer_r = 0.18, 0.60, 1.0
        start = 90.0  # go clockwise from 12 o'clock
        for index, row in enumerate(top_verbs):
            span = 360.0 * row["count"] / total
            color = cmap(index % 20)
            ax.add_patch(
                Wedge(
                    (0, 0),
                    inner_r,
                    start - span,
                    start,
                    width=inner_r - hole,
                    facecolor=color,
                    edgecolor="white",
                    linewidth=1.2,
                )
            )
            if span >= 3.2:
                _radial_text(
                    ax,
                    start - span / 2,
                    (inner_r + hole) / 2,
                    row["verb"],
                    10 if span >= 6 else 8.5,
                    fontweight="bold",
                )
            obj_start = start
            shown = sum(obj["count"] for obj in row["objects"])
            for obj in row["objects"]:
                obj_span = span * obj["count"] / shown
                ax.add_patch(
                    Wedge(
                        (0, 0),
                        outer_r,
                        obj_start - obj_span,
                        obj_start,
                        width=outer_r - inner_r,
                        facecolor=(*color[:3], 0.55),
                        edgecolor="white",
                        linewidth=0.8,
                    )
                )
                if obj_span >= 1.5:
                    _radial_text(
                        ax,
                        obj_start - obj_span / 2,
                        (inner_r + outer_r) / 2,
                        obj["object"],
                        8.5 if obj_span >= 3 else 7,
                    )
                obj_start -= obj_span
            if not row["objects"]:
                ax.add_patch(
                    Wedge(
                        (0, 0),
                        outer_r,
                        start - span,
                        start,
                        width=outer_r - inner_r,
                        facecolor="#f0f0f0",
                        edgecolor="white",
                        linewidth=0.8,
                    )
                )
            start -= span
        ax.set_xlim(-1.03, 1.03)
        ax.set_ylim(-1.03, 1.03)
        ax.set_title(
            f"Top {len(top_verbs)} root verbs (inner) and their top direct objects (outer): {name}\n"
            f"{summary.get('with_verb', 0):,} of {summary.get('instructions', 0):,} instructions "
            f"have a root verb; {summary.get('distinct_verbs', 0):,} distinct verbs, "
            f"{summary.get('distinct_pairs', 0):,} distinct verb-object pairs\n"
            "(inner angle: verb frequency; outer: split among each verb's top objects)",
            fontsize=12,
        )
        fig.savefig(path)
        plt.close(fig)


def write_plots(result: Any, out_dir: str | Path, prefix: str) -> list[Path]:
    """Write every figure the result has data for; returns the paths written."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror}") from None
    raw, summary = result.raw, result.summary
    name = Path(summary["source"]["path"]).name
    written: list[Path] = []
    path = out / f"{prefix}_lengths.png"
    plot_lengths(raw, path, name)
    written.append(path)
    if raw.get("rouge_l_to_seed") is not None:
        path = out / f"{prefix}_rouge_to_seed.png"
        plot_rouge(raw["rouge_l_to_seed"], path, name, summary["rouge_l_to_seed"]["n_seeds"])
        written.append(path)
    verbs = summary.get("verbs") or {}
    if verbs.get("available"):
        path = out / f"{prefix}_verbs.png"
        plot_verbs(verbs["top_verbs"], path, name, verbs)
        written.append(path)
    return written
