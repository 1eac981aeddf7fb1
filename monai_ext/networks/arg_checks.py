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
"""Argument checks shared by the networks: each raises a ``ValueError`` that names the network, the argument and the
bad value, so a wrong bundle setting is reported before any layer is built."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

__all__ = ["check_spatial_dims", "check_positive_int", "check_features", "stage_widths"]


def check_spatial_dims(name: str, spatial_dims: int, supported: Sequence[int] = (2,)) -> int:
    """Raise unless `spatial_dims` is one of `supported` (2 only for the ultrasound networks)."""
    if isinstance(spatial_dims, bool) or spatial_dims not in tuple(supported):
        raise ValueError(f"{name}: only spatial_dims in {tuple(supported)} is supported, got {spatial_dims!r}.")
    return int(spatial_dims)


def check_positive_int(name: str, arg: str, value: int) -> int:
    """Raise unless `value` is an int >= 1 (bools are refused: `True` is not a width)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}.")
    return value


def check_features(name: str, features: Sequence[int], count: int = 5) -> list[int]:
    """Raise unless `features` holds `count` positive ints (one width per encoder stage); returns them as a list."""
    if isinstance(features, (str, bytes)) or not isinstance(features, Sequence) or len(features) != count:
        raise ValueError(f"{name}: features must be {count} positive ints (one width per stage), got {features!r}.")
    return [check_positive_int(name, "each of features", f) for f in features]


def stage_widths(name: str, dim_mult: float, features: Sequence[int] | None, base: int = 16, count: int = 5) -> list[int]:
    """The stage widths of a network given a width multiplier or explicit widths.

    Args:
        name: the network's name, for error messages.
        dim_mult: positive width multiplier (int or float); widths are ``round(base * dim_mult * 2**i)``, so the
            published ``dim_mult=4`` gives 64..1024 and ``0.5`` gives 8..128.
        features: explicit widths; when given, `dim_mult` is ignored.
        base: the width of the first stage at ``dim_mult=1``.
        count: number of stages.

    Raises:
        ValueError: a non-positive multiplier, one that rounds a width to 0, or malformed `features`.
    """
    if features is not None:
        return check_features(name, features, count)
    if isinstance(dim_mult, bool) or not isinstance(dim_mult, Real) or not dim_mult > 0:
        raise ValueError(f"{name}: dim_mult must be a positive number, got {dim_mult!r}.")
    widths = [int(round(base * float(dim_mult) * 2**i)) for i in range(count)]
    if widths[0] < 1:
        raise ValueError(f"{name}: dim_mult={dim_mult!r} makes the first stage {widths[0]} channels wide; use at least "
                         f"{0.5 / base:g}.")
    return widths
