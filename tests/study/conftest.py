# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Shared settings of the study tests: a tiny cell (24-image 64 px phantom, a few iterations, narrow networks)."""

from __future__ import annotations

TINY = {
    "phantom#num": 24,
    "phantom#size": 64,
    "image_size": [64, 64],
    "features": [4, 8, 16, 32, 64],
    "labeled_batch_size": 2,
    "unlabeled_batch_size": 2,
    "max_iterations": 4,
    "val_interval": 2,
    "checkpoint_interval": 2,
    "num_workers": 0,
}
