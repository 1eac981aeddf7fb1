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
"""Tests of monai_ext.handlers.checkpoint_loader: a checkpoint that cannot be loaded is named, with the reason."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine

from monai_ext.handlers import USCheckpointError, USCheckpointLoader, describe_state_dict_mismatch
from monai_ext.networks.nets import USUNet


def _net(features=(4, 8, 16, 32, 64), out_channels=2):
    return USUNet(spatial_dims=2, in_channels=1, out_channels=out_channels, features=list(features))


def _load(path, net):
    engine = Engine(lambda e, b: None)
    USCheckpointLoader(load_path=str(path), load_dict={"model": net}).attach(engine)
    engine.run([0], max_epochs=1)


def test_a_good_checkpoint_loads_like_monai_does(tmp_path):
    src, dst = _net(), _net()
    torch.save(src.state_dict(), tmp_path / "model.pt")
    _load(tmp_path / "model.pt", dst)
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))


def test_mismatch_names_the_file_the_entries_and_both_shapes(tmp_path):
    torch.save(_net(out_channels=4).state_dict(), tmp_path / "cardiac.pt")  # trained on the 3-structure task
    with pytest.raises(USCheckpointError) as info:
        _load(tmp_path / "cardiac.pt", _net(out_channels=2))
    message = str(info.value)
    assert message.startswith(f"checkpoint {tmp_path / 'cardiac.pt'}: does not fit the network USUNet ('model'): ")
    assert "2 of " in message and "entries have other shapes" in message
    assert "decoder.out_conv.weight: checkpoint (4, 4, 3, 3), network (2, 4, 3, 3)" in message
    assert "task / number of structures" in message
    assert info.value.path == str(tmp_path / "cardiac.pt")


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(USCheckpointError, match=r"checkpoint .*nope\.pt: no such file: train the bundle first"):
        _load(tmp_path / "nope.pt", _net())
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(USCheckpointError, match=r"checkpoint .*cut\.pt: cannot be read with torch\.load"):
        _load(tmp_path / "cut.pt", _net())
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(USCheckpointError, match=r"checkpoint .*list\.pt: holds a list, not a state dict"):
        _load(tmp_path / "list.pt", _net())


def test_describe_state_dict_mismatch_lists_missing_and_unexpected_keys():
    expected = {"a": torch.zeros(2), "b": torch.zeros(3), "c": torch.zeros(1)}
    found = {"a": torch.zeros(2), "b": torch.zeros(4), "d": torch.zeros(1)}
    assert describe_state_dict_mismatch(expected, found) == (
        "1 of 3 entries have other shapes (b: checkpoint (4,), network (3,)); 1 network entries are missing from the "
        "checkpoint (c); 1 checkpoint entries are not in the network (d)"
    )
    assert describe_state_dict_mismatch(expected, dict(expected)) == ""
