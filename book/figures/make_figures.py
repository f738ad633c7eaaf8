"""Draw the primer's figure (committed as PNG so the book builds offline without running this).

Run: .venv/bin/python book/figures/make_figures.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

HERE = Path(__file__).parent


def box(ax, xy, w, h, text, color):
    ax.add_patch(FancyBboxPatch(xy, w, h, boxstyle="round,pad=0.02", fc=color, ec="0.3"))
    ax.text(xy[0] + w / 2, xy[1] + h / 2, text, ha="center", va="center", fontsize=9)


def clip_primer() -> Path:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.15]})
    # (a) contrastive pre-training: N images x N captions, the diagonal pairs belong together
    n = 5
    rng = np.random.default_rng(0)
    sim = rng.uniform(-0.2, 0.25, (n, n))
    sim[np.diag_indices(n)] = rng.uniform(0.6, 0.9, n)
    a.imshow(sim, cmap="Blues", vmin=-0.3, vmax=1.0)
    for i in range(n):
        a.add_patch(plt.Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, ec="#c62828", lw=2))
    a.set_xticks(range(n), [f"$T_{i+1}$" for i in range(n)])
    a.set_yticks(range(n), [f"$I_{i+1}$" for i in range(n)])
    a.set_xlabel("text embeddings of N captions")
    a.set_ylabel("image embeddings of N images")
    a.set_title("(a) Pre-training: pull matching pairs together,\npush the N²−N others apart", fontsize=10)
    # (b) zero-shot: class prompts -> prototypes; image -> cosine -> softmax(logit_scale * cos)
    b.set_xlim(0, 10)
    b.set_ylim(0, 6)
    b.axis("off")
    b.set_title("(b) Zero-shot: a linear classifier whose weights are sentences", fontsize=10)
    box(b, (0.2, 4.3), 3.0, 1.0, '"a photo of a {cat, dog}."', "#e3f2fd")
    box(b, (0.2, 1.0), 3.0, 1.0, "image", "#fff3e0")
    box(b, (4.0, 4.3), 2.2, 1.0, "text encoder\n→ $w_c$ / ‖$w_c$‖", "#e8f5e9")
    box(b, (4.0, 1.0), 2.2, 1.0, "image encoder\n→ $x$ / ‖$x$‖", "#e8f5e9")
    box(b, (6.9, 2.5), 2.9, 1.3, "$p(c\\,|\\,x) = $ softmax$_c$\n$(\\,s \\cdot \\cos(x, w_c)\\,)$\n$s = 1/\\tau \\approx 100$", "#f3e5f5")
    for (x0, y0, x1, y1) in [(3.2, 4.8, 4.0, 4.8), (3.2, 1.5, 4.0, 1.5), (6.2, 4.8, 7.2, 3.8), (6.2, 1.5, 7.2, 2.5)]:
        b.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color="0.3"))
    fig.tight_layout()
    out = HERE / "clip_primer.png"
    fig.savefig(out, dpi=130)
    return out


if __name__ == "__main__":
    print(clip_primer())
