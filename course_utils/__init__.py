"""course_utils: the helper package of the course "From maximum likelihood to flow matching".

Notebooks use it as ``import course_utils as cu`` and start with ``cu.setup(seed=0)``.
Topic modules (``cu.data``, ``cu.ode``, ``cu.flows``, ...) are imported on first use, so
``import course_utils`` stays fast and a notebook only pays for what it touches.
"""

from __future__ import annotations

import importlib
import os
import platform
import random
import sys

__version__ = "0.1.0"

_SUBMODULES = (
    "checks",
    "data",
    "grid",
    "plotting",
    "mle",
    "ode",
    "change_of_variables",
    "linalg",
    "flows",
    "splines",
    "cnf",
    "flow_matching",
    "metrics",
    "volume",
    "training",
    "digits",
    "sde",
    "grading",
)

__all__ = ["setup", "get_device", "__version__", *_SUBMODULES]


def __getattr__(name: str):
    # PEP 562 lazy submodules: `cu.ode` imports course_utils.ode on first access.
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))


def get_device():
    """The torch device the course uses: CPU unless ``COURSE_DEVICE`` says otherwise.

    The notebooks are small enough for a laptop CPU and their committed outputs were
    produced on one. Set ``COURSE_DEVICE=cuda`` (or ``mps``) before starting JupyterLab
    to run the training cells on an accelerator; printed numbers then differ slightly.
    """
    import torch

    name = os.environ.get("COURSE_DEVICE", "cpu").strip().lower()
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "COURSE_DEVICE=cuda but torch.cuda.is_available() is False: "
            "install a CUDA build of torch (see README) or unset COURSE_DEVICE"
        )
    if name not in {"cpu", "cuda", "mps"}:
        raise ValueError(f"COURSE_DEVICE must be one of cpu, cuda, mps; got {name!r}")
    return torch.device(name)


def setup(seed: int = 0, *, threads: int | None = None, dtype=None, verbose: bool = True):
    """Make a notebook reproducible and consistent; call it in the first cell.

    Seeds Python's, NumPy's and torch's global generators, sets the number of torch
    threads, the default torch dtype and the course's matplotlib style, and prints one
    line with the library versions.

    Args:
        seed: seed for all random generators (a non-negative int).
        threads: torch intra-op threads; default ``$COURSE_THREADS`` or the CPU count.
        dtype: default torch floating dtype (``torch.float32`` unless given).
        verbose: print the versions line.

    Returns:
        The ``torch.device`` to use (see :func:`get_device`).

    >>> import course_utils as cu
    >>> cu.setup(0, verbose=False).type
    'cpu'
    """
    import matplotlib
    import numpy as np
    import torch

    from ._validate import check_int

    check_int(seed, "seed", 0)
    if threads is None:
        threads = int(os.environ.get("COURSE_THREADS", os.cpu_count() or 1))
    check_int(threads, "threads")
    dtype = torch.float32 if dtype is None else dtype
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    np.set_printoptions(precision=4, suppress=True)
    torch.set_printoptions(precision=4, sci_mode=False)

    from . import plotting

    plotting.use_course_style()
    device = get_device()
    if verbose:
        print(
            f"course_utils {__version__} | python {platform.python_version()} | "
            f"torch {torch.__version__} | numpy {np.__version__} | "
            f"matplotlib {matplotlib.__version__} | device {device.type} | "
            f"threads {threads} | seed {seed}"
        )
    sys.stdout.flush()
    return device
