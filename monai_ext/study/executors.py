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

"""Where the cells of a study run (``docs/study.md``): local processes, or Ray tasks on an existing cluster.

Both executors yield ``(cell, value, error)`` in completion order to the study process, which alone writes the
MLflow store and the reports (so the sqlite store has a single writer). A cell that raises is yielded with its error
and the others go on.

- ``local``: ``jobs`` cells side by side, each driving its bundle processes (``python -m monai.bundle run``) from a
  thread of the study process;
- ``ray``: one Ray task per cell on the cluster at ``address`` (``"local"`` or empty: a new local Ray instance with
  ``jobs`` CPUs), ``num_gpus=1`` per task when the cluster has GPUs, else ``num_cpus=1``. The workers must see the
  same ``--out`` (a shared file system) and have ``monai_ext`` and the bundles installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from monai_ext.study.cells import StudyCell

__all__ = ["EXECUTORS", "iter_local", "iter_ray", "iter_cells", "ray_task_options"]

EXECUTORS = ("local", "ray")
CellWork = Callable[[StudyCell], Any]
Started = Callable[[StudyCell], None]


def iter_local(cells: Sequence[StudyCell], work: CellWork, jobs: int = 1,
               on_start: Started | None = None) -> Iterator[tuple[StudyCell, Any, BaseException | None]]:
    """Run ``work(cell)`` for every cell, ``jobs`` at a time in threads; yield results as they complete."""

    def call(cell: StudyCell) -> Any:
        if on_start is not None:
            on_start(cell)
        return work(cell)

    with ThreadPoolExecutor(max_workers=max(int(jobs), 1)) as pool:
        pending: dict[Future, StudyCell] = {pool.submit(call, c): c for c in cells}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                cell = pending.pop(fut)
                error = fut.exception()
                yield cell, (None if error else fut.result()), error


def ray_task_options(resources: dict[str, float]) -> dict[str, float]:
    """One GPU per task when the cluster has GPUs, else one CPU."""
    return {"num_gpus": 1} if resources.get("GPU", 0) >= 1 else {"num_cpus": 1}


def _ray_call(work: CellWork, cell: StudyCell) -> Any:
    return work(cell)


def iter_ray(cells: Sequence[StudyCell], work: CellWork, address: str | None = None, jobs: int = 1,
             on_start: Started | None = None) -> Iterator[tuple[StudyCell, Any, BaseException | None]]:
    """Run ``work(cell)`` as Ray tasks; yield results as they complete.

    ``address``: a Ray cluster (``ray://host:10001``, ``host:6379``, ``auto``); ``"local"`` / None / ``""`` start a
    local instance with ``jobs`` CPUs, shut down at the end. An existing ``ray.init`` of the caller is reused.
    ``work`` must be picklable (a module-level function or a ``functools.partial`` of one).

    Raises:
        ImportError: Ray is not installed (``pip install monai_ext[study]``).
    """
    try:
        import ray
    except ImportError as e:
        raise ImportError("--executor ray needs Ray: pip install 'monai_ext[study]' (or pip install ray).") from e
    started_here = False
    if not ray.is_initialized():
        if address in (None, "", "local"):
            ray.init(num_cpus=max(int(jobs), 1), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        started_here = True
    try:
        remote = ray.remote(_ray_call).options(**ray_task_options(ray.cluster_resources()), max_retries=0)
        pending = {}
        for cell in cells:
            pending[remote.remote(work, cell)] = cell
            if on_start is not None:
                on_start(cell)  # queued on the cluster; Ray reports no start time to the driver
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                cell = pending.pop(ref)
                try:
                    yield cell, ray.get(ref), None
                except ray.exceptions.RayTaskError as e:  # the cell's own exception, as raised on the worker
                    yield cell, None, e.cause if isinstance(getattr(e, "cause", None), BaseException) else e
                except ray.exceptions.RayError as e:  # worker died, node lost...
                    yield cell, None, e
    finally:
        if started_here:
            ray.shutdown()


def iter_cells(cells: Sequence[StudyCell], work: CellWork, executor: str = "local", jobs: int = 1,
               address: str | None = None,
               on_start: Started | None = None) -> Iterator[tuple[StudyCell, Any, BaseException | None]]:
    """Dispatch to :func:`iter_local` or :func:`iter_ray`."""
    if executor == "local":
        return iter_local(cells, work, jobs, on_start)
    if executor == "ray":
        return iter_ray(cells, work, address, jobs, on_start)
    raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}.")
