import numpy as np
import pytest
import torch

import course_utils as cu


def test_setup_seeds_everything_and_prints_versions(capsys):
    cu.setup(7)
    a = (np.random.rand(), torch.rand(1).item())
    cu.setup(7)
    b = (np.random.rand(), torch.rand(1).item())
    assert a == b
    out = capsys.readouterr().out
    assert f"torch {torch.__version__}" in out and "seed 7" in out
    assert torch.get_default_dtype() == torch.float32


def test_setup_dtype_and_threads():
    try:
        cu.setup(0, threads=1, dtype=torch.float64, verbose=False)
        assert torch.get_default_dtype() == torch.float64
        assert torch.get_num_threads() == 1
    finally:
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"seed": -1}, ValueError, "seed must be a non-negative int"),
        # a non-integer count is a TypeError everywhere in the package (course_utils._validate)
        ({"seed": 1.5}, TypeError, "seed must be a non-negative int"),
        ({"seed": 0, "threads": 0}, ValueError, "threads must be a positive int"),
        ({"seed": 0, "dtype": torch.int64}, ValueError, "dtype must be"),
    ],
)
def test_setup_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cu.setup(**kwargs)


def test_device_env(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="COURSE_DEVICE must be one of"):
        cu.get_device()
    monkeypatch.delenv("COURSE_DEVICE")
    assert cu.get_device().type == "cpu"


def test_lazy_submodule_and_unknown_attribute():
    assert cu.data.get("two_moons") is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cu.nope  # noqa: B018
