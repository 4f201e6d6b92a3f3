"""Velocity-field networks ``v(t, x)`` for flow matching."""

from __future__ import annotations

import math

import torch

from .._validate import check_int
from ._common import _check_points, _column_time

__all__ = ["VelocityMLP"]


class VelocityMLP(torch.nn.Module):
    """A small MLP velocity field ``v(t, x)`` for low-dimensional data.

    Time enters through ``n_freq`` sine/cosine features ``sin(2 pi k t), cos(2 pi k t)``
    (``k = 1..n_freq``) besides ``t`` itself, which lets a small network represent a field
    that changes quickly near ``t = 1``. SiLU activations keep the field smooth (its
    divergence is needed for the exact likelihood).

    Args:
        dim: data dimension.
        hidden: width of the hidden layers.
        n_hidden: number of hidden layers (>= 1).
        n_freq: number of time frequencies (0: only ``t``).
        activation: ``"silu"``, ``"selu"``, ``"tanh"`` or ``"softplus"``.
    """

    _ACTS = {
        "silu": torch.nn.SiLU,
        "selu": torch.nn.SELU,
        "tanh": torch.nn.Tanh,
        "softplus": torch.nn.Softplus,
    }

    def __init__(
        self,
        dim: int = 2,
        hidden: int = 128,
        n_hidden: int = 3,
        n_freq: int = 4,
        activation: str = "silu",
    ):
        super().__init__()
        for name, value, low in (
            ("dim", dim, 1),
            ("hidden", hidden, 1),
            ("n_hidden", n_hidden, 1),
            ("n_freq", n_freq, 0),
        ):
            check_int(value, name, low)
        if activation not in self._ACTS:
            raise ValueError(f"activation must be one of {list(self._ACTS)}, got {activation!r}")
        self.dim = dim
        self.register_buffer(
            "freqs", 2 * math.pi * torch.arange(1, n_freq + 1, dtype=torch.float32)
        )
        layers: list[torch.nn.Module] = []
        width = dim + 1 + 2 * n_freq
        for _ in range(n_hidden):
            layers += [torch.nn.Linear(width, hidden), self._ACTS[activation]()]
            width = hidden
        layers.append(torch.nn.Linear(width, dim))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, t, x: torch.Tensor) -> torch.Tensor:
        """``t``: number, 0-d or ``(batch,)``; ``x: (batch, dim)`` -> ``(batch, dim)``."""
        x = _check_points(x, "x", self.dim)
        return self.net(self._features(t, x))

    def _features(self, t, x: torch.Tensor) -> torch.Tensor:
        """The network's input ``[x, t, sin(2 pi k t), cos(2 pi k t)]``: (batch, dim + 1 + 2 n_freq)."""
        tc = _column_time(t, x).expand(x.shape[0], 1)
        ang = tc * self.freqs.to(x.dtype)
        return torch.cat([x, tc, torch.sin(ang), torch.cos(ang)], dim=1)

    def jvp(self, t, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(v(t, x), Dv(t, x) s)``, the derivative in x with t held fixed, by hand.

        ``x: (batch, dim)`` and ``s: (batch, dim)`` (one direction per point), or
        ``x: (1, dim)`` and ``s: (m, dim)`` (m directions at one point). The time features
        have zero tangent; the network part is :func:`course_utils.volume.sequential_jvp`,
        which shares every matrix product between the point and its directions (used by
        ``course_utils.volume.reverse_map_jvp``).
        """
        from ..volume import sequential_jvp

        x = _check_points(x, "x", self.dim)
        s = _check_points(s, "s", self.dim)
        if s.shape[0] % x.shape[0]:
            raise ValueError(
                f"s must have a multiple of x's {x.shape[0]} rows (k directions per point), "
                f"got {s.shape[0]}"
            )
        feats = self._features(t, x)
        tang = torch.cat([s.to(x.dtype), s.new_zeros(s.shape[0], feats.shape[1] - self.dim)], 1)
        return sequential_jvp(self.net, feats, tang)
