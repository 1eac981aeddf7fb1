# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of MLflowParamsHandler against a real sqlite MLflow store."""

from __future__ import annotations

from ignite.engine import Engine
from mlflow.tracking import MlflowClient
from monai.handlers import MLFlowHandler

from monai_ext.handlers import MLflowParamsHandler, flatten_params


def test_flatten():
    assert flatten_params({"a": 1, "b": {"c": [1, 2], "d": None}}) == {"a": "1", "b.c": "[1, 2]", "b.d": "None"}


def test_params_reach_the_run_opened_by_mlflow_handler(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    engine = Engine(lambda e, b: 0.0)
    MLFlowHandler(tracking_uri=uri, experiment_name="t", artifacts=None, close_on_complete=True,
                  output_transform=lambda x: x).attach(engine)
    handler = MLflowParamsHandler({"method": "mean_teacher", "ssl": {"consistency": 0.1}})
    handler.attach(engine)
    engine.run(range(2), max_epochs=1)
    assert handler.logged
    client = MlflowClient(tracking_uri=uri)
    run = client.search_runs([client.get_experiment_by_name("t").experiment_id])[0]
    assert run.data.params["method"] == "mean_teacher"
    assert run.data.params["ssl.consistency"] == "0.1"


def test_no_tracking_no_op():
    engine = Engine(lambda e, b: 0.0)
    handler = MLflowParamsHandler({"a": 1})
    handler.attach(engine)
    engine.run(range(2), max_epochs=1)
    assert not handler.logged


def test_close_runs_ends_the_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    engine = Engine(lambda e, b: 0.0)
    handler = MLflowParamsHandler({"stage": "evaluate"}, close_runs=True)
    handler.attach(engine)
    MLFlowHandler(tracking_uri=uri, experiment_name="e", iteration_log=False).attach(engine)  # does not close
    engine.run(range(2), max_epochs=1)
    client = MlflowClient(tracking_uri=uri)
    run = client.search_runs([client.get_experiment_by_name("e").experiment_id])[0]
    assert run.info.status == "FINISHED" and run.data.params["stage"] == "evaluate"
