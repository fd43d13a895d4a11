"""The kit's one JSON serialiser (utils.json_default / write_json)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mifomo_lite.utils import json_default, write_json


def test_numpy_torch_and_paths_become_plain_json(tmp_path):
    payload = {"f": np.float32(1.5), "i": np.int64(2), "a": np.arange(3), "t": torch.tensor([1.0, 2.0]),
               "s": torch.tensor(3), "p": Path("x/y")}
    out = write_json(tmp_path / "m.json", payload)
    assert json.loads(out.read_text()) == {"a": [0, 1, 2], "f": 1.5, "i": 2, "p": "x/y", "s": 3, "t": [1.0, 2.0]}
    assert not list(tmp_path.glob("*.part"))


def test_anything_else_is_a_type_error_naming_the_type():
    with pytest.raises(TypeError, match="object"):
        json.dumps({"x": object()}, default=json_default)
