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
"""monai_ext.handlers: Ignite/MONAI handlers for semi-supervised training and evaluation."""

from __future__ import annotations

from .checkpoint_loader import USCheckpointError, USCheckpointLoader, describe_state_dict_mismatch
from .checkpoints import ResumableCheckpointHandler, USAtomicCheckpointSaver, latest_checkpoint
from .consistency_ramp_up import ConsistencyRampUpHandler, consistency_ramp_weight
from .ema_teacher import EMATeacherHandler
from .gradient_clip import USGradientClipHandler
from .metric_handlers import USDiceHandler, USHD95Handler, USIoUHandler
from .metric_report import USMetricsReportHandler
from .mlflow_params import MLflowParamsHandler, flatten_params
from .progress_bar import TerminalProgressBar
from .structure_metrics import structure_metric_handlers

__all__ = [
    "ConsistencyRampUpHandler",
    "EMATeacherHandler",
    "MLflowParamsHandler",
    "ResumableCheckpointHandler",
    "USAtomicCheckpointSaver",
    "TerminalProgressBar",
    "USCheckpointError",
    "USCheckpointLoader",
    "USGradientClipHandler",
    "USDiceHandler",
    "USHD95Handler",
    "USIoUHandler",
    "USMetricsReportHandler",
    "consistency_ramp_weight",
    "describe_state_dict_mismatch",
    "flatten_params",
    "latest_checkpoint",
    "structure_metric_handlers",
]
