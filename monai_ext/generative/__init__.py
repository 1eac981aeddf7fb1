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

"""monai_ext.generative: MGCC stage 1, autoencoder + latent diffusion training and synthetic image export."""

from __future__ import annotations

from .autoencoder_trainer import USAutoencoderTrainer, gaussian_kl_loss
from .latent_diffusion_trainer import USLatentDiffusionTrainer, latent_statistics
from .latent_sampler import USLatentImageSampler, load_reference_images
from .synthetic_manifest import (
    MANIFEST_FORMAT_VERSION,
    USSyntheticManifestHandler,
    synthetic_split_path,
    write_synthetic_split,
)
from .weights import file_sha256, load_network_weights, read_latent_stats, save_network_weights, write_latent_stats

__all__ = [
    "MANIFEST_FORMAT_VERSION",
    "USAutoencoderTrainer",
    "USLatentDiffusionTrainer",
    "USLatentImageSampler",
    "USSyntheticManifestHandler",
    "file_sha256",
    "gaussian_kl_loss",
    "latent_statistics",
    "load_network_weights",
    "load_reference_images",
    "read_latent_stats",
    "save_network_weights",
    "synthetic_split_path",
    "write_latent_stats",
    "write_synthetic_split",
]
