"""ODE solvers in torch: fixed-step Runge–Kutta methods and adaptive Dormand–Prince 5(4).

Taught in ``notebooks/02_odes.ipynb``; used by every later notebook that moves points
along a vector field (continuous normalising flows, flow matching, volume metrics).

:func:`odeint` follows torchdiffeq's calling convention, so code written for
``torchdiffeq.odeint`` runs on it unchanged (and back, for the methods both have):

* ``func(t, y)`` returns ``dy/dt``; ``t`` is a 0-d tensor with the dtype and device
  of the state, ``y`` has the shape of ``y0`` (or is a tuple shaped like ``y0``);
* ``t`` is a 1-D tensor of output times, strictly increasing *or* strictly decreasing
  (a decreasing ``t`` integrates backwards in time);
* the result stacks the state at every time in ``t`` on a new first axis.

Every method is built from differentiable torch operations, so gradients of the result
with respect to ``y0`` and to parameters used inside ``func`` come from autograd
("discretise, then differentiate"). Step-size decisions are made on detached numbers,
as in scipy and torchdiffeq. Gradients also flow to the output times ``t``, as in
torchdiffeq: the fixed-step methods build their step grid from ``t``, and ``dopri5``
returns the derivatives of the exact flow (``dy(t_i)/dt_i = f(t_i, y(t_i))`` and
``dy(t_i)/dt_0 = -(dy(t_i)/dy_0) f(t_0, y_0)``), which is what torchdiffeq's adaptive
solvers approximate. :func:`odeint_adjoint` gives the same gradients by the adjoint method,
with torchdiffeq's bookkeeping for ``t_0``. ``tests/test_ode.py`` checks all of them against
torchdiffeq and finite differences for every method.

The solvers live in ``course_utils/_odeint.py`` and the adjoint in
``course_utils/_adjoint.py``, which is built on :func:`odeint`; this module only gathers
the public names (imports go one way, as in torchdiffeq).

Statistics of the last solve (function evaluations, accepted and rejected steps) are
kept by the module and returned by :func:`last_stats`, so callers never need to wrap
``func`` to count evaluations:

>>> import torch
>>> from course_utils import ode
>>> y = ode.odeint(lambda t, y: -2 * y, torch.tensor([3.0], dtype=torch.float64),
...                torch.tensor([0.0, 0.1], dtype=torch.float64), method="euler")
>>> round(float(y[-1, 0]), 4)
2.4
>>> ode.last_stats().nfe
1
"""

from ._adjoint import odeint_adjoint
from ._odeint import FIXED_STEP_METHODS, METHODS, OdeStats, last_stats, odeint

__all__ = ["odeint", "OdeStats", "last_stats", "METHODS", "FIXED_STEP_METHODS", "odeint_adjoint"]
