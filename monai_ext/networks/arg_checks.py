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

"""Argument checks shared by the networks of monai_ext.

Every check raises :class:`ValueError` with a message of the form ``"<owner>: <argument> must be ..., got <value>."``
so that a bad bundle-config value surfaces as one readable line naming the network, the argument and the value.
"""

from __future__ import annotations

from numbers import Real
from typing import Any, List, Optional, Sequence

import torch

__all__ = [
    "check_spatial_dims",
    "check_positive_int",
    "check_non_negative_int",
    "check_positive_float",
    "check_probability",
    "check_choice",
    "check_int_sequence",
    "check_divisible",
    "check_input_tensor",
    "check_features",
    "stage_widths",
]


def check_spatial_dims(owner: str, spatial_dims: Any, supported: Sequence[int] = (2,)) -> None:
    """Raise unless ``spatial_dims`` is one of ``supported``."""
    if isinstance(spatial_dims, bool) or spatial_dims not in tuple(supported):
        names = " or ".join(str(s) for s in supported)
        raise ValueError(f"{owner}: only spatial_dims={names} is supported, got {spatial_dims!r}.")


def check_positive_int(owner: str, arg: str, value: Any) -> int:
    """Return ``value`` if it is an int >= 1 (bools are rejected), else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {arg} must be a positive int, got {value!r}.")
    return value


def check_non_negative_int(owner: str, arg: str, value: Any) -> int:
    """Return ``value`` if it is an int >= 0 (bools are rejected), else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{owner}: {arg} must be a non-negative int, got {value!r}.")
    return value


def check_positive_float(owner: str, arg: str, value: Any) -> float:
    """Return ``float(value)`` if it is a real number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{owner}: {arg} must be a positive number, got {value!r}.")
    return float(value)


def check_probability(owner: str, arg: str, value: Any, inclusive_one: bool = False) -> float:
    """Return ``float(value)`` if it lies in [0, 1) (or [0, 1] with ``inclusive_one``), else raise."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and 0.0 <= value and (value <= 1.0 if inclusive_one else value < 1.0)
    if not ok:
        interval = "[0, 1]" if inclusive_one else "[0, 1)"
        raise ValueError(f"{owner}: {arg} must be a number in {interval}, got {value!r}.")
    return float(value)


def check_choice(owner: str, arg: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    if value not in tuple(choices):
        raise ValueError(f"{owner}: {arg} must be one of {tuple(choices)!r}, got {value!r}.")
    return value


def check_int_sequence(
    owner: str, arg: str, value: Any, length: Optional[int] = None, minimum: int = 1, odd_length: bool = False
) -> List[int]:
    """Return ``list(value)`` if it is a sequence of ints >= ``minimum`` (of ``length`` items if given), else raise."""
    what = f"{length} ints" if length is not None else "a non-empty sequence of ints"
    if odd_length:
        what = "an odd number of ints"
    what += f" >= {minimum}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(f"{owner}: {arg} must be {what}, got {value!r}.")
    if (length is not None and len(value) != length) or (odd_length and len(value) % 2 == 0):
        raise ValueError(f"{owner}: {arg} must be {what}, got {value!r}.")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ValueError(f"{owner}: {arg} must be {what}, got {value!r}.")
    return list(value)


def check_divisible(owner: str, arg: str, value: int, divisor: int, why: str = "") -> None:
    """Raise unless ``value % divisor == 0``."""
    if value % divisor != 0:
        reason = f" ({why})" if why else ""
        raise ValueError(f"{owner}: {arg} must be divisible by {divisor}{reason}, got {value!r}.")


def check_input_tensor(owner: str, x: Any, channels: int, name: str = "input", ndim: int = 4) -> None:
    """Raise unless ``x`` is a tensor of ``ndim`` dims (batch, channels, spatial...) with ``channels`` channels."""
    if not isinstance(x, torch.Tensor) or x.ndim != ndim or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        spatial = ", ".join(["H", "W", "D"][: ndim - 2])
        raise ValueError(f"{owner}: expected {name} of shape (B, {channels}, {spatial}), got {shape}.")


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
