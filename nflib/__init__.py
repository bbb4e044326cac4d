"""nflib: a small, exact numpy library of normalizing flows.

A flow is a generative map f: z -> x. Every bijection has
``forward(z) -> (x, log|det df/dz|)`` and ``inverse(x) -> (z, log|det df^{-1}/dx|)``.

The library needs numpy and scipy only. The book's own layer (quizzes, figures, demos, exercise
checks) is ``nflib.course``, which ``import nflib`` never loads.
"""

from .core import Bijection, Compose, Inverse
from .validation import as_batch
from .distributions import Distribution, StandardNormal, Uniform
from .flow import Flow, nll_and_grad, reverse_kl_and_grad
from .mlp import MLP
from .affine import Affine
from .permute import Permute, Reverse
from .planar import Planar
from .coupling import (AdditiveCoupling, AffineCoupling, alternating_mask, channel_mask,
                       checkerboard_mask, realnvp)
from .spline import RationalQuadraticSpline, spline_flow
from .residual import ResidualBlock
from .autoregressive import MADE, MAF, IAF
from .image import (ActNorm, InvConv1x1, Squeeze, Split, Reshape, Flatten, Unflatten,
                    flat_view, image_view, glow)
from .train import Adam, History, fit, fit_reverse_kl
from . import checks, datasets, diagnostics, optim, quadrature, targets
from . import ode, flow_matching
from .conditional import ConditionalBijection
from .conditional import ConditionalAffineCoupling
from .conditional import ConditionalSplineCoupling
from .conditional import ConditionalMAF
from .conditional import ConditionalCompose
from .conditional import ConditionalFlow
from .conditional import conditional_nll_and_grad
from .conditional import fit_conditional
from .dequantization import VariationalDequantizer, dequantized_nll_and_grad, fit_dequantized

__version__ = "0.2.0"
