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

"""monai_ext.engines."""

from __future__ import annotations

from .cosine_schedule import COSINE_SCHEDULES, CosineLRHandler, cosine_lr_scheduler
from .methods import (
    CrossConsistencyMethod,
    MeanTeacherMethod,
    SSLMethod,
    SupervisedOnlyMethod,
    UncertaintyMeanTeacherMethod,
    USIterationContext,
    make_ema_teacher,
    probabilities,
    unwrap_network,
)
from .mixed_precision import AMP_DTYPES, USMixedPrecision, USMixedPrecisionTrainer
from .plain_tensors import as_plain_tensor
from .sabr_methods import SABRBoundaryMethod, SABRFinetuneMethod
from .sabr_pretrainer import SABR_LOSS_WEIGHTS, SABRIterationEvents, SABRPretrainer, sabr_pretrain_output_keys
from .sabr_stages import (
    PERCEPTUAL_ENCODER_OPTIONS,
    SABR_STAGE_CONFIGS,
    SABRGeneratorLRLambda,
    SABRGeneratorSegInferer,
    load_stage_weights,
    sabr_perceptual_encoder,
    sabr_stage_command,
    save_stage_weights,
    transfer_generator_encoder,
)
from .schedules import PolyLRLambda
from .semi_supervised_trainer import SemiSupervisedTrainer, unlabeled_prepare_batch

__all__ = [
    "AMP_DTYPES",
    "USMixedPrecision",
    "USMixedPrecisionTrainer",
    "as_plain_tensor",
    "CrossConsistencyMethod",
    "MeanTeacherMethod",
    "SSLMethod",
    "SemiSupervisedTrainer",
    "SupervisedOnlyMethod",
    "UncertaintyMeanTeacherMethod",
    "USIterationContext",
    "make_ema_teacher",
    "probabilities",
    "unlabeled_prepare_batch",
    "unwrap_network",
]

__all__ += ["PolyLRLambda", "COSINE_SCHEDULES", "CosineLRHandler", "cosine_lr_scheduler"]
__all__ += [
    "PERCEPTUAL_ENCODER_OPTIONS",
    "SABR_LOSS_WEIGHTS",
    "SABR_STAGE_CONFIGS",
    "SABRBoundaryMethod",
    "SABRFinetuneMethod",
    "SABRGeneratorLRLambda",
    "SABRGeneratorSegInferer",
    "SABRIterationEvents",
    "SABRPretrainer",
    "load_stage_weights",
    "sabr_perceptual_encoder",
    "sabr_pretrain_output_keys",
    "sabr_stage_command",
    "save_stage_weights",
    "transfer_generator_encoder",
]
