# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Figure of the SABR bundle README: the phantom's own acoustic shadows next to the shadow-imitation modes.

Rows: breast and thyroid phantom images (linear and convex probes). Columns: the phantom image with its own
simulated shadows (posterior shadowing of carcinomas, calcifications, the tracheal air shadow) and the lesion outline;
the same image with ``mode="acoustic"`` (the project's extension: shadows cast along the scan lines below the
brightest reflector); its hole mask (red); ``mode="mat_small"`` (SABR-Net's MAT free-form holes, zero-filled as the
network sees them). Everything is simulated and seeded; nothing is downloaded.

Usage: ``python scripts/make_shadow_figure.py [--out bundles/sabr_us_segmentation/docs/shadow_modes.png]
[--size 256] [--seed 0]``
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

__all__ = ["main"]

# (task, phantom seed): breast carcinomas with posterior shadowing (linear and convex probe), a thyroid nodule beside
# the tracheal air shadow (linear) and a convex thyroid view; chosen by eye from make_phantom_sample's seeds
_SAMPLES = (("breast", 32), ("breast", 12), ("thyroid", 2), ("thyroid", 7))


def _render(size: int, seed: int):
    from monai_ext.data.phantom import make_phantom_sample
    from monai_ext.transforms import USShadowImitation

    acoustic = USShadowImitation(
        mode="acoustic", layout="yx", acoustic={"probe": "auto", "anchor": "reflector"}
    ).set_random_state(seed)
    mat = USShadowImitation(mode="mat_small", layout="yx", fill_value=0.0).set_random_state(seed)
    rows = []
    for task, phantom_seed in _SAMPLES:
        image, label, info = make_phantom_sample(task, size, np.random.default_rng(phantom_seed))
        x = (image.astype(np.float32) / 127.5 - 1.0)[None]  # SABR's [-1, 1] input range
        shadowed, a_mask = acoustic(x, fov=info["fov"])
        mat_image, m_mask = mat(x)
        rows.append(
            {
                "title": f"{task}, {info['kind']}, {info['probe']} probe",
                "image": x[0],
                "label": label > 0,
                "acoustic": shadowed[0],
                "acoustic_mask": a_mask[0],
                "mat": mat_image[0],
                "mat_mask": m_mask[0],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("bundles", "sabr_us_segmentation", "docs", "shadow_modes.png"))
    parser.add_argument("--size", type=int, default=256, help="image size in pixels (>= 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shadow-imitation transforms")
    args = parser.parse_args(argv)
    if args.size < 64:
        parser.error(f"--size must be >= 64, got {args.size}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    rows = _render(args.size, args.seed)
    columns = (
        "phantom: its own shadows\n(lesion outline in yellow)",
        "mode='acoustic' (project extension)\nshadows along the scan lines",
        "acoustic hole mask (red = hole)",
        "mode='mat_small' (SABR-Net)\nMAT holes, zero-filled input",
    )
    fig, axes = plt.subplots(len(rows), 4, figsize=(12.8, 3.35 * len(rows)), dpi=85)
    gray = {"cmap": "gray", "vmin": -1.0, "vmax": 1.0, "interpolation": "nearest"}
    for r, row in enumerate(rows):
        ax = axes[r]
        ax[0].imshow(row["image"], **gray)
        ax[0].contour(row["label"].astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
        ax[1].imshow(row["acoustic"], **gray)
        ax[2].imshow(row["acoustic"], **gray)
        hole = np.ma.masked_where(row["acoustic_mask"] > 0, np.ones_like(row["acoustic_mask"]))
        ax[2].imshow(hole, cmap=ListedColormap(["red"]), alpha=0.45, interpolation="nearest")
        ax[3].imshow(row["mat"], **gray)
        ratio_a = 1.0 - float(row["acoustic_mask"].mean())
        ratio_m = 1.0 - float(row["mat_mask"].mean())
        ax[0].set_ylabel(row["title"], fontsize=9)
        ax[2].set_xlabel(f"hole ratio {ratio_a:.2f}", fontsize=8)
        ax[3].set_xlabel(f"hole ratio {ratio_m:.2f}", fontsize=8)
        for c, a in enumerate(ax):
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title(columns[c], fontsize=9)
    fig.suptitle(
        "Shadow imitation for SABR-Net pretraining (phantom data; labels are unchanged, the inpainting target is the "
        "original image)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out)
    plt.close(fig)
    print(f"wrote {args.out} ({len(rows)} rows x 4 columns, {args.size} px images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
