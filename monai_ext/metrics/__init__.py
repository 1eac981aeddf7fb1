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

"""monai_ext.metrics: Dice, IoU and HD95 per image and structure with the empty-mask policy of
docs/methods/evaluation.md, "Empty masks"."""

from __future__ import annotations

from monai_ext.metrics.cumulative import USDiceMetric, USHD95Metric, USIoUMetric, USSegmentationMetricBase
from monai_ext.metrics.report import (
    format_us_metrics_table,
    summarize_us_metrics,
    us_unit_label,
    write_us_metrics_csv,
)
from monai_ext.metrics.segmentation import (
    US_CASE_BOTH_EMPTY,
    US_CASE_BOTH_NONEMPTY,
    US_CASE_FALSE_POSITIVE,
    US_CASE_MISSED,
    US_CASE_NAMES,
    US_DISTANCE_METRICS,
    US_SUPPORTED_METRICS,
    check_us_fixed_spacing,
    compute_us_case_categories,
    compute_us_segmentation_metrics,
    normalize_us_spacing,
    us_image_diagonal,
    us_same_unit,
    us_spacing_from_meta,
    us_spacing_unit,
)

__all__ = [
    "US_CASE_BOTH_EMPTY",
    "US_CASE_BOTH_NONEMPTY",
    "US_CASE_FALSE_POSITIVE",
    "US_CASE_MISSED",
    "US_CASE_NAMES",
    "US_DISTANCE_METRICS",
    "US_SUPPORTED_METRICS",
    "USDiceMetric",
    "USHD95Metric",
    "USIoUMetric",
    "USSegmentationMetricBase",
    "check_us_fixed_spacing",
    "us_same_unit",
    "compute_us_case_categories",
    "compute_us_segmentation_metrics",
    "format_us_metrics_table",
    "normalize_us_spacing",
    "summarize_us_metrics",
    "us_image_diagonal",
    "us_spacing_from_meta",
    "us_spacing_unit",
    "us_unit_label",
    "write_us_metrics_csv",
]
