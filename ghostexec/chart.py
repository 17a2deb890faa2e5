"""The evaluation chart: grades per policy and task, and mean cumulative reward over the episode.

matplotlib (Agg, no display) is imported only when a chart is drawn, so the core and the CLI work
without it; `ghostexec eval --chart` says how to install it if it is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path

from .evaluation import EpisodeResult, Row

MISSING = "the chart needs matplotlib: pip install matplotlib (it is in the [test] extra)"


def draw(results: Sequence[EpisodeResult], rows: Sequence[Row], path: Path | str, *, threshold: float) -> Path:
    """Write a PNG: top, grade mean ± std per task (one bar per policy, threshold dashed); below,
    one panel per task with each policy's mean cumulative reward by step (over its seeds)."""
    try:
        import matplotlib
    except ImportError as exc:
        raise RuntimeError(MISSING) from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    policies = list(dict.fromkeys(r.policy for r in results))
    tasks = list(dict.fromkeys(r.task_id for r in results))
    cols = min(len(tasks), 3)
    lower = -(-len(tasks) // cols)
    fig = plt.figure(figsize=(4.2 * cols + 1.5, 3.6 * (lower + 1)), dpi=100)
    grid = fig.add_gridspec(lower + 1, cols)
    colours = plt.get_cmap("tab10" if len(policies) <= 10 else "tab20")

    ax = fig.add_subplot(grid[0, :])
    width = 0.8 / max(1, len(policies))
    by_key = {(r.policy, r.task_id): r for r in rows}
    for i, policy in enumerate(policies):
        xs, ys, es = [], [], []
        for j, task in enumerate(tasks):
            row = by_key.get((policy, task))
            if row is not None:
                xs.append(j + (i - (len(policies) - 1) / 2) * width)
                ys.append(row.grade_mean)
                es.append(row.grade_std)
        ax.bar(xs, ys, width, yerr=es, capsize=2, label=policy, color=colours(i % colours.N))
    ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8, label=f"pass threshold {threshold:g}")
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_ylim(0, 1)
    ax.set_ylabel("grade (mean ± std over seeds)")
    ax.set_title("Episode grade by policy and task")
    ax.legend(fontsize=7, ncol=min(6, len(policies) + 1), loc="upper center", bbox_to_anchor=(0.5, -0.1))

    for t, task in enumerate(tasks):
        axt = fig.add_subplot(grid[1 + t // cols, t % cols])
        for i, policy in enumerate(policies):
            curves = [list(accumulate(r.rewards)) for r in results if r.policy == policy and r.task_id == task]
            if not curves:
                continue
            length = max(len(c) for c in curves)
            # An episode that ended early keeps its final value (refused-only truncations are rare).
            padded = [c + [c[-1] if c else 0.0] * (length - len(c)) for c in curves]
            mean = [sum(c[s] for c in padded) / len(padded) for s in range(length)]
            axt.plot(range(1, length + 1), mean, label=policy, color=colours(i % colours.N), linewidth=1.2)
        axt.axhline(0, color="grey", linewidth=0.5)
        axt.set_title(f"{task}: cumulative reward", fontsize=9)
        axt.set_xlabel("step", fontsize=8)
        axt.tick_params(labelsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


__all__ = ["MISSING", "draw"]
