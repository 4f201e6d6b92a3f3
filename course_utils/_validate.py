"""Argument checks for every public function of course_utils (private: not part of the API).

One module, one rule per class of mistake, so the same mistake gets the same exception
and the same message shape everywhere (``tests/test_validate.py`` feeds each class of bad
input to every public function):

==========================  ===========  =================================================
mistake                     exception    message
==========================  ===========  =================================================
not a tensor / wrong type   TypeError    ``x must be a torch.Tensor of shape (batch, 2),
                                         got list``
non-floating dtype          TypeError    ``x must have a floating dtype, got torch.int64``
wrong shape                 ValueError   ``x must have shape (batch, 2), got (3,)``
NaN or inf                  ValueError   ``x contains NaN or infinite values``
count not an int            TypeError    ``n must be a positive int, got 2.5``
count < 1 (or < minimum)    ValueError   ``n must be a positive int, got 0``
number out of range         ValueError   ``lr must be a finite number > 0, got -1.0``
not one of the choices      ValueError   ``method must be one of ['euler', ...], got 'x'``
not a path                  TypeError    ``root must be a path (str or os.PathLike), got int``
path does not exist         FileNot-     ``root must be an existing folder, got '/nope'``
                            FoundError
unknown topic name          ValueError   ``topics must name topics of the course, got
                                         unknown 99_x; known: 01_mle, ...`` (a list);
                                         ``topic must name a topic of the course, got
                                         '99_x'; known: ...`` (one name)
not a notebook, not a list  TypeError    ``nb must be a notebook (nbformat.NotebookNode),
                                         got int``
==========================  ===========  =================================================

This module imports nothing from course_utils, so every module may import it; it imports
torch on first use, so the shell tools (authoring, edition, site) that only check paths
and names start without it.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

NONFINITE = "contains NaN or infinite values"


class _Torch:
    """Stands for the torch module until a check first needs it, then is replaced by it."""

    def __getattr__(self, name: str) -> Any:
        import torch as module

        globals()["torch"] = module
        return getattr(module, name)


torch: Any = _Torch()


def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def check_tensor(x: Any, name: str = "x", want: str = "") -> torch.Tensor:
    """``x`` is a floating ``torch.Tensor`` (any shape); return it.

    Raises:
        TypeError: not a tensor, or not a floating dtype (the message names ``name``).
    """
    if not isinstance(x, torch.Tensor):
        shape = f" of shape {want}" if want else ""
        raise TypeError(f"{name} must be a torch.Tensor{shape}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    return x


def check_finite(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """``x`` holds no NaN or inf; return it (``ValueError`` otherwise)."""
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} {NONFINITE}")
    return x


def check_batch(x: Any, name: str = "x", dim: int | None = None, want: str = "") -> torch.Tensor:
    """Check that ``x`` is a floating tensor of shape ``(batch, dim)``; return it.

    ``want`` is how the shape reads in the message (default ``(batch, dim)``).

    Raises:
        TypeError: not a tensor, or not floating point (the message names ``name``).
        ValueError: wrong number of axes or wrong ``dim``.
    """
    want = want or ("(batch, dim)" if dim is None else f"(batch, {dim})")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {want}, got {type(x).__name__}")
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        raise ValueError(f"{name} must have shape {want}, got {_shape(x)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    return x


def check_data(x: Any, name: str = "x", dim: int | None = None, want: str = "") -> torch.Tensor:
    """:func:`check_batch`, plus at least one row and only finite values (data to fit or score).

    Raises:
        TypeError, ValueError: as :func:`check_batch`; ValueError for no rows or NaN/inf.
    """
    x = check_batch(x, name, dim, want)
    if x.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {_shape(x)}")
    return check_finite(x, name)


def check_shape(
    x: Any, shape: tuple[int | None, ...], name: str = "x", want: str = ""
) -> torch.Tensor:
    """A floating tensor whose shape matches ``shape`` (``None`` matches any size).

    ``want`` is how the shape reads in the message, e.g. ``"(batch,)"``; by default it is
    ``shape`` with ``None`` written as ``batch``.
    """
    want = want or "(" + ", ".join("batch" if s is None else str(s) for s in shape) + (
        ",)" if len(shape) == 1 else ")"
    )
    x = check_tensor(x, name, want)
    if x.ndim != len(shape) or any(
        s is not None and s != n for s, n in zip(shape, x.shape, strict=False)
    ):
        raise ValueError(f"{name} must have shape {want}, got {_shape(x)}")
    return x


def check_like(x: Any, like: torch.Tensor, name: str, like_name: str) -> torch.Tensor:
    """A floating tensor with the shape of ``like`` (``ValueError`` naming both otherwise)."""
    want = str(_shape(like))
    x = check_tensor(x, name, want)
    if x.shape != like.shape:
        raise ValueError(f"{name} must have the shape of {like_name} {want}, got {_shape(x)}")
    return x


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """An ``int`` (not ``bool``) ``>= minimum``; return it.

    The message reads "a positive int" for ``minimum=1``, "a non-negative int" for 0 and
    "an int >= m" otherwise.

    Raises:
        TypeError: not an int (a float, a string, ``True``, ...).
        ValueError: below ``minimum``.
    """
    want = {1: "a positive int", 0: "a non-negative int"}.get(minimum, f"an int >= {minimum}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {want}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {want}, got {value!r}")
    return int(value)


def check_positive_int(value: Any, name: str) -> int:
    """:func:`check_int` with ``minimum=1`` (a count: samples, steps, epochs, layers)."""
    return check_int(value, name, 1)


def check_optional_int(value: Any, name: str, minimum: int = 1) -> int | None:
    """``None`` or :func:`check_int`."""
    return None if value is None else check_int(value, name, minimum)


def check_number(
    value: Any,
    name: str,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """A finite real number (optionally ``> 0``, ``>= 0`` or in ``[low, high]``) as a float.

    A one-element tensor is accepted.

    Raises:
        TypeError: not a real number.
        ValueError: NaN, inf or out of range.
    """
    if positive:
        want = "a finite number > 0"
    elif nonnegative:
        want = "a finite number >= 0"
    elif low is not None and high is not None:
        want = f"a finite number in [{low:g}, {high:g}]"
    elif low is not None:
        want = f"a finite number >= {low:g}"
    elif high is not None:
        want = f"a finite number <= {high:g}"
    else:
        want = "a finite number"
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {want}, got {type(value).__name__}")
    value = float(value)
    bad = (
        not math.isfinite(value)
        or (positive and not value > 0)
        or (nonnegative and not value >= 0)
        or (low is not None and value < low)
        or (high is not None and value > high)
    )
    if bad:
        raise ValueError(f"{name} must be {want}, got {value!r}")
    return value


def check_choice(value: Any, choices: Iterable, name: str) -> Any:
    """``value`` is one of ``choices``; return it (``ValueError`` listing them otherwise)."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """A ``bool`` (``TypeError`` otherwise, so ``"False"`` is not silently true)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_dtype(dtype: Any, name: str = "dtype") -> torch.dtype:
    """A floating torch dtype (``torch.float32``, ``torch.float64``, ...); return it."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"{name} must be a floating torch dtype (e.g. torch.float32 or torch.float64), "
            f"got {dtype!r}"
        )
    return dtype


def check_generator(generator: Any, name: str = "generator") -> torch.Generator | None:
    """``None`` or a ``torch.Generator``; return it."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{name} must be a torch.Generator (e.g. torch.Generator().manual_seed(0)) "
            f"or None, got {type(generator).__name__}"
        )
    return generator


def check_callable(func: Any, name: str, call: str = "") -> Any:
    """``func`` is callable (``call`` shows how it is called, e.g. ``"(t, x)"``)."""
    if not callable(func):
        raise TypeError(
            f"{name} must be callable{' as ' + name + call if call else ''}, "
            f"got {type(func).__name__}"
        )
    return func


def check_state(y0: Any, name: str = "y0") -> tuple[tuple[torch.Tensor, ...], bool]:
    """An ODE state: a floating tensor or a non-empty tuple of them, one dtype and device,
    finite. Returns ``(components, is_tuple)``."""
    is_tuple = isinstance(y0, (tuple, list))
    comps = tuple(y0) if is_tuple else (y0,)
    if is_tuple and len(comps) == 0:
        raise ValueError(f"{name} must be a tensor or a non-empty tuple of tensors, got ()")
    for i, c in enumerate(comps):
        label = f"{name}[{i}]" if is_tuple else name
        if not isinstance(c, torch.Tensor):
            hint = "" if is_tuple else " or a tuple of tensors"
            raise TypeError(f"{label} must be a torch.Tensor{hint}, got {type(c).__name__}")
        if not c.is_floating_point():
            raise TypeError(f"{label} must have a floating dtype, got {c.dtype}")
    if len({c.dtype for c in comps}) > 1 or len({c.device for c in comps}) > 1:
        raise ValueError(
            f"all tensors of a tuple {name} must share one dtype and device, got "
            f"dtypes {[str(c.dtype) for c in comps]} on devices {[str(c.device) for c in comps]}"
        )
    for i, c in enumerate(comps):
        check_finite(c, f"{name}[{i}]" if is_tuple else name)
    return comps, is_tuple


def standard_normal_log_prob(z: Any) -> torch.Tensor:
    """Log-density (nats) of ``N(0, I)`` at ``z: (batch, dim)``; returns ``(batch,)``.

    The one implementation behind ``change_of_variables``, ``flows`` and ``cnf``'s
    ``standard_normal_log_prob``.

    >>> import torch
    >>> round(float(standard_normal_log_prob(torch.zeros(1, 2))), 6)   # -log(2 pi)
    -1.837877
    """
    z = check_batch(z, "z")
    return -0.5 * (z**2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


def check_path(value: Any, name: str, *, kind: str | None = None) -> Path:
    """A path (``str`` or ``os.PathLike``); with ``kind`` ``"dir"``, ``"file"`` or
    ``"any"``, one that exists (as a folder, a file, anything). Returns a ``Path``.

    Raises:
        TypeError: not a ``str`` or ``os.PathLike`` (a number, ``None``, ...).
        FileNotFoundError: ``kind`` given and the path does not exist as one.
    """
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    path = Path(value)
    if kind is None:
        return path
    exists = {"dir": path.is_dir, "file": path.is_file, "any": path.exists}[kind]
    if not exists():
        what = {"dir": "folder", "file": "file", "any": "path"}[kind]
        raise FileNotFoundError(f"{name} must be an existing {what}, got {str(path)!r}")
    return path


def check_names(
    values: Any, known: Iterable[str], name: str, what: str = "topic", error: type = ValueError
) -> list[str]:
    """A list (or tuple) of strings, each one of ``known``; return it as a list.

    Raises:
        TypeError: not a list or tuple of ``str`` (a single string is refused, so
            ``"01_mle"`` is not read as seven one-letter names).
        ValueError: a name not in ``known`` (the message lists the unknown and the known);
            ``error`` (a subclass of ValueError) is raised instead when given.
    """
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{name} must be a list of {what} names (str), got {values!r}")
    known = sorted(known)
    unknown = [v for v in values if v not in known]
    if unknown:
        raise error(
            f"{name} must name {what}s of the course, got unknown {', '.join(unknown)}; "
            f"known: {', '.join(known) or '(none)'}"
        )
    return list(values)


def check_name(
    value: Any, known: Iterable[str], name: str, what: str = "topic", error: type = ValueError
) -> str:
    """One string of ``known`` (one topic); return it.

    Raises:
        TypeError: not a ``str``.
        ValueError: not in ``known`` (``error``, a subclass of ValueError, when given).
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a {what} name (str), got {type(value).__name__}")
    known = sorted(known)
    if value not in known:
        raise error(
            f"{name} must name a {what} of the course, got {value!r}; "
            f"known: {', '.join(known) or '(none)'}"
        )
    return value


def check_notebook(nb: Any, name: str = "nb") -> Any:
    """A notebook: an ``nbformat.NotebookNode`` (or the ``dict`` it is read into) with
    ``cells``; return it (``TypeError`` otherwise)."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise TypeError(
            f"{name} must be a notebook (nbformat.NotebookNode), got {type(nb).__name__}"
        )
    return nb


def check_argv(argv: Any, name: str = "argv") -> list[str] | None:
    """``None`` or a list of strings (command-line arguments); return it."""
    if argv is None:
        return None
    if not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv):
        raise TypeError(f"{name} must be a list of str or None, got {argv!r}")
    return list(argv)
