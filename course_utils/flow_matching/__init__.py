"""Flow matching: conditional Gaussian paths, the CFM loss, couplings, the marginal field.

Taught in ``notebooks/07_flow_matching.ipynb``.

**Time convention of the course: noise at t = 0, data at t = 1.** A conditional
Gaussian path moves a noise point ``x0 ~ N(0, I)`` towards a data point ``x1``:

    x_t = sigma_t x0 + alpha_t x1,          p_t(x | x1) = N(x; alpha_t x1, sigma_t^2 I),

and the conditional vector field that generates it (Lipman et al. 2023, Thm 3; K Thm 10)
is

    u_t(x | x1) = (sigma_t' / sigma_t) (x - alpha_t x1) + alpha_t' x1,

which, evaluated at ``x = x_t``, is just the time derivative ``sigma_t' x0 + alpha_t' x1``
of the path (:meth:`GaussianPath.target`). Three paths share this interface:

=========  ===========================  ==========================================
path       alpha_t (mean = alpha_t x1)  sigma_t
=========  ===========================  ==========================================
``ot``     ``t``                        ``1 - (1 - sigma_min) t``
``vp``     ``exp(-T(1 - t) / 2)``       ``sqrt(1 - alpha_t^2)``,
                                        ``T(s) = b_min s + (b_max - b_min) s^2 / 2``
``ve``     ``1``                        ``s_min (s_max / s_min)^(1 - t)``
=========  ===========================  ==========================================

Conversions. Lipman et al. (and K, except in K §3.1 before it re-reverses time) use the
course's convention. Score-based diffusion (Song et al. 2021) runs time the other way,
data at ``s = 0`` and noise at ``s = 1``: its ``alpha(s), sigma(s)`` become the course's
``alpha_t = alpha(1 - t)``, ``sigma_t = sigma(1 - t)``, and every velocity changes sign
(``d/dt = -d/ds``). R's linear interpolation ``x_t = (1 - t) x0 + t x1`` is the ``ot`` path
with ``sigma_min = 0``; R writes fields as ``f(x, t)``, the course as ``v(t, x)``.

A finite data set has a closed-form *marginal* field (K Thm 11) -- :class:`MarginalField`
-- usable wherever a trained network is. Any field ``v(t, x)`` is sampled with
:func:`sample` (any :mod:`course_utils.ode` method) and has an exact log-likelihood by
:func:`log_prob` (through :mod:`course_utils.cnf`).

>>> import torch
>>> path = OTPath()
>>> x0 = torch.zeros(1, 2, dtype=torch.float64); x1 = torch.ones(1, 2, dtype=torch.float64)
>>> path.sample_xt(x0, x1, 0.25).tolist(), path.target(x0, x1, 0.25).tolist()
([[0.25, 0.25]], [[1.0, 1.0]])

The implementation is split by job: :mod:`.paths`, :mod:`.couplings`, :mod:`.losses` (the
losses and the marginal field), :mod:`.models`, :mod:`.training` and :mod:`.sampling`;
every public name is available here as ``course_utils.flow_matching.<name>``.
"""

from __future__ import annotations

from .couplings import COUPLINGS, couple
from .losses import MarginalField, cfm_loss, fm_loss
from .models import VelocityMLP
from .paths import PATHS, GaussianPath, OTPath, VEPath, VPPath, get_path
from .sampling import log_prob, sample, straightness
from .training import train

__all__ = [
    "GaussianPath",
    "OTPath",
    "VPPath",
    "VEPath",
    "PATHS",
    "get_path",
    "COUPLINGS",
    "couple",
    "cfm_loss",
    "fm_loss",
    "MarginalField",
    "VelocityMLP",
    "train",
    "sample",
    "log_prob",
    "straightness",
]
