"""Hidden tests for 05_normalizing_flows (instructor only).

Every probe uses inputs that differ from the public checks (other masks, dimensions,
networks, signs). Values are compared with the same expression evaluated in the solution
notebook; networks are built inside the expression from a fixed seed, so both sides see
the same weights. Question 5 is a property check (``max``) on a fresh held-out set.
"""

_X3 = "torch.tensor([[0.2, -0.7, 1.1], [1.5, 0.3, -2.0], [-0.4, 2.2, 0.0]], dtype=F64)"
_M3 = "torch.tensor([1.0, 0.0, 1.0], dtype=F64)"
_M01 = "torch.tensor([0.0, 1.0], dtype=F64)"
_X2 = "torch.tensor([[0.5, -0.5], [2.0, 1.0], [-1.3, 0.2]], dtype=F64)"
_Z4 = "torch.tensor([[1.2, -0.3], [-0.6, 0.9], [2.0, 2.0]], dtype=F64)"
_CHAIN3 = (
    "[flows.Permutation([2, 0, 1]),"
    " flows.ElementwiseAffine(torch.tensor([1.5, -0.5, 2.0], dtype=F64),"
    " torch.tensor([0.1, 0.2, 0.3], dtype=F64)),"
    " flows.Shear(0.7, dim=3, source=2, target=0)]"
)

QUESTIONS = [
    {
        "id": "q1",
        "title": "the inverse of an affine coupling layer",
        "points": 3,
        "tests": [
            {
                "name": "3-D mask [1, 0, 1], another network: z",
                "points": 1.5,
                "expr": f"coupling_inverse({_X3}, {_M3}, make_net(3, seed=7))[0]",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "z with coupling_forward(z) == x for any mask and dimension, shape (batch, dim)",
            },
            {
                "name": "3-D mask [1, 0, 1]: log-det",
                "points": 1,
                "expr": f"coupling_inverse({_X3}, {_M3}, make_net(3, seed=7))[1]",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "log|det dz/dx| = minus the sum of s over the transformed coordinates, shape (batch,)",
            },
            {
                "name": "mask [0, 1]: round trip",
                "points": 0.5,
                "expr": (
                    f"coupling_inverse(coupling_forward({_X2}, {_M01}, make_net(2, seed=9))[0],"
                    f" {_M01}, make_net(2, seed=9))[0]"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "the round trip returns the original points when the second coordinate is copied",
            },
        ],
    },
    {
        "id": "q2",
        "title": "sample a chain and score the samples",
        "points": 2,
        "tests": [
            {
                "name": "images through a chain with a random coupling layer",
                "points": 1,
                "expr": (
                    "(torch.manual_seed(3), chain_sample([flows.Shear(-0.5),"
                    " flows.AffineCoupling([0.0, 1.0], hidden=8, zero_init=False).to(F64),"
                    " flows.Permutation([1, 0])],"
                    " torch.tensor([[0.3, 0.4], [-1.0, 2.0], [2.5, -0.1]], dtype=F64)))[1][0]"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "x = layers[-1](...layers[0](z)), layers applied first to last",
            },
            {
                "name": "log-densities of the images, 3-D chain",
                "points": 1,
                "expr": f"chain_sample({_CHAIN3}, {_X3})[1]",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "log N(z; 0, I) minus the sum of the forward log-dets, any dimension",
            },
        ],
    },
    {
        "id": "q3",
        "title": "the notes' shear-then-scale flow in closed form",
        "points": 2,
        "tests": [
            {
                "name": "negative scale",
                "points": 1,
                "expr": (
                    f"shear_scale_log_prob({_X2}, -0.7, torch.tensor([-1.5, 0.4], dtype=F64),"
                    " torch.tensor([0.2, 0.3], dtype=F64))"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "the log-determinant uses |sigma1 sigma2| (a scale may be negative)",
            },
            {
                "name": "other parameters",
                "points": 1,
                "expr": (
                    f"shear_scale_log_prob({_X2}, 2.0, torch.tensor([3.0, 0.25], dtype=F64),"
                    " torch.tensor([-1.0, 0.5], dtype=F64))"
                ),
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "log N(z; 0, I) - log|sigma1 sigma2| with z from the closed-form inverse",
            },
        ],
    },
    {
        "id": "q4",
        "title": "spot and repair a non-invertible layer",
        "points": 3,
        "tests": [
            {
                "name": "collision",
                "points": 1,
                "expr": (
                    "bool(tuple(collision.shape) == (2, 2)"
                    " and float((collision[0] - collision[1]).norm()) >= 0.1"
                    " and torch.allclose(broken_layer(collision)[0], broken_layer(collision)[1],"
                    " atol=1e-9))"
                ),
                "kind": "equal",
                "expects": "a (2, 2) tensor of two points at least 0.1 apart with the same image",
            },
            {
                "name": "fixed forward: x",
                "points": 0.5,
                "expr": f"fixed_forward({_Z4})[0]",
                "rtol": 1e-12,
                "atol": 1e-12,
                "expects": "x1 = z1, x2 = z2 exp(z1) + sin(z1)",
            },
            {
                "name": "fixed forward: log-det",
                "points": 0.5,
                "expr": f"fixed_forward({_Z4})[1]",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "log|det dx/dz| of the repaired layer, shape (batch,)",
            },
            {
                "name": "fixed inverse: z and log-det",
                "points": 1,
                "expr": f"torch.cat([fixed_inverse({_Z4})[0].reshape(-1), fixed_inverse({_Z4})[1]])",
                "rtol": 1e-10,
                "atol": 1e-12,
                "expects": "z1 = x1, z2 = (x2 - sin x1) exp(-x1), and log|det dz/dx| = -x1",
            },
        ],
    },
    {
        "id": "q5",
        "title": "train a RealNVP that beats 2.62 nats",
        "points": 4,
        "tests": [
            {
                "name": "model is a flow",
                "points": 0.5,
                "expr": "isinstance(model, cu.flows.Flow)",
                "kind": "equal",
                "expects": "model is a cu.flows.Flow",
            },
            {
                "name": "reported held-out NLL",
                "points": 1.5,
                "expr": "float(cu.flows.nll(model, x_val))",
                "kind": "max",
                "bound": 2.62,
                "expects": "held-out NLL of model on x_val <= 2.62 nats",
            },
            {
                "name": "NLL on a fresh held-out set",
                "points": 2,
                "expr": (
                    "float(cu.flows.nll(model, cu.data.get('gaussian_mixture').sample(4000,"
                    " generator=torch.Generator().manual_seed(2024))))"
                ),
                "kind": "max",
                "bound": 2.62,
                "expects": "held-out NLL <= 2.62 nats on new samples from the same distribution",
            },
        ],
    },
    {
        "id": "q7",
        "title": "repair a flow that fails on separated modes",
        "points": 5,
        "tests": [
            {
                "name": "both NLLs are measured on x_test7",
                "points": 1,
                "expr": (
                    "max(abs(nll_broken - cu.flows.nll(broken, x_test7)),"
                    " abs(nll_repaired - cu.flows.nll(repaired, x_test7)))"
                ),
                "kind": "max",
                "bound": 1e-4,
                "expects": "nll_broken and nll_repaired: cu.flows.nll(model, x_test7) of each trained model",
            },
            {
                "name": "the repaired flow fits both modes",
                "points": 1,
                # the broken flow's x1 marginal is one Gaussian: it cannot go below about 2.71
                "expr": (
                    "max(cu.flows.nll(repaired, x_test7), cu.flows.nll(repaired, sep.sample(3000,"
                    " generator=torch.Generator().manual_seed(2024))))"
                ),
                "kind": "max",
                "bound": 2.2,
                "expects": "held-out NLL of the repaired flow <= 2.2 nats on x_test7 and on new samples",
            },
            {
                "name": "both bridge masses are measured",
                "points": 1,
                "expr": (
                    "max(abs(bridge_broken - cu.grid.integrate_density_2d(broken.log_prob, lim=strip7,"
                    " n=200)), abs(bridge_repaired - cu.grid.integrate_density_2d(repaired.log_prob,"
                    " lim=strip7, n=200)))"
                ),
                "kind": "max",
                "bound": 1e-6,
                "expects": "bridge_broken, bridge_repaired: the model's probability of strip7 "
                "(cu.grid.integrate_density_2d, n=200)",
            },
            {
                "name": "the repair takes mass out of the gap",
                "points": 1,
                "expr": (
                    "cu.grid.integrate_density_2d(repaired.log_prob, lim=strip7, n=200)"
                    " / cu.grid.integrate_density_2d(broken.log_prob, lim=strip7, n=200)"
                ),
                "kind": "max",
                "bound": 0.75,
                "expects": "the repaired flow puts at most 3/4 of the broken flow's mass on the strip",
            },
            {
                "name": "the gain",
                "points": 1,
                "expr": (
                    "float(gain) if abs(gain - (cu.flows.nll(broken, x_test7)"
                    " - cu.flows.nll(repaired, x_test7))) < 1e-4 else -1.0"
                ),
                "kind": "min",
                "bound": 0.4,
                "expects": "gain = nll_broken - nll_repaired on x_test7, at least 0.4 nats",
            },
        ],
    },
]


# Written questions, graded by hand (course-grade review / merge, docs/GRADING.md).
MANUAL = [{"id": "q6", "title": "what the flow does between the modes", "points": 3}]
