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
"""Log a bundle's method parameters to the MLflow run that `--tracking mlflow` opened."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from monai.handlers import MLFlowHandler
from monai.utils import IgniteInfo, min_version, optional_import

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["MLflowParamsHandler", "flatten_params"]


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested dicts to `a.b` keys and render values as MLflow parameter strings."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(list(value))
        else:
            flat[name] = str(value)
    return flat


class MLflowParamsHandler:
    """
    Add parameters (method, labelled fraction, split hash, batch sizes, ...) to the MLflow run of the engine's
    `MLFlowHandler`, after that handler has opened its run.

    `--tracking mlflow` appends MONAI's `MLFlowHandler` to a bundle's handlers at run time; its default settings
    log only `max_epochs` and `epoch_length` as parameters. This handler finds that `MLFlowHandler` among the
    engine's STARTED handlers at the end of the first iteration and logs `params` through it. Without tracking
    it does nothing, so bundles can always list it.

    With ``close_runs=True`` it also ends those runs when the engine completes: MONAI's default tracking settings
    attach a non-closing handler to ``validate#evaluator``, which a bundle's ``evaluate.json`` runs on its own, so the
    evaluation run would otherwise stay RUNNING.

    Args:
        params: parameters to log (nested dicts are flattened to dotted keys).
        close_runs: end the engine's MLflow runs on COMPLETED.
    """

    def __init__(self, params: Mapping[str, Any], close_runs: bool = False) -> None:
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping, got {type(params).__name__}.")
        self.params = dict(params)
        self.close_runs = close_runs
        self.logged = False

    def attach(self, engine: Engine) -> None:
        """Log once, after the first iteration (the MLflow run exists by then); close runs on COMPLETED if asked."""
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=1), self)
        if self.close_runs:
            engine.add_event_handler(Events.COMPLETED, self.close)

    def close(self, engine: Engine) -> None:
        """End the MLflow runs of the engine's ``MLFlowHandler``s."""
        for handler in self.find_mlflow_handlers(engine):
            handler.close()

    @staticmethod
    def find_mlflow_handlers(engine: Engine) -> list[MLFlowHandler]:
        """The `MLFlowHandler`s attached to `engine` (through their STARTED callbacks)."""
        found = []
        for handler, *_ in engine._event_handlers.get(Events.STARTED, []):
            owner = getattr(handler, "__self__", None)
            if isinstance(owner, MLFlowHandler) and owner not in found:
                found.append(owner)
        return found

    def __call__(self, engine: Engine) -> None:
        """Log the parameters to every active MLflow run of the engine."""
        flat = flatten_params(self.params)
        for handler in self.find_mlflow_handlers(engine):
            if handler.cur_run is None:
                continue
            existing = handler.client.get_run(handler.cur_run.info.run_id).data.params
            handler._log_params({k: v for k, v in flat.items() if k not in existing})
            self.logged = True
