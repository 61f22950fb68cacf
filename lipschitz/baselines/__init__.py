"""Baselines of the experiments: LipSDP, SeqLip and CLEVER (Jordan & Dimakis 2020, app. F.1),
and the closed-form bounds.

All concern the scalar function ``x -> c . f(x)`` and its gradient
``g(x)^T = w^T D_L W_L ... D_1 W_1`` with ``w = W_out^T c`` and ``D_k = diag(ReLU'(z_k))``.
The Lipschitz constant for the input norm ``p`` is the largest dual norm of ``g`` over the
domain.

* :mod:`~lipschitz.baselines.closed_form` -- :func:`naive_bound` (the product of the layers'
  operator norms) and FastLip (:func:`gradient_bounds`, :func:`fastlip_bound`);
* :mod:`~lipschitz.baselines.sdp` -- :func:`lipsdp`, LipSDP-Neuron (Fazlyab et al. 2019),
  with the numpy certificate of the solver's multipliers;
* :mod:`~lipschitz.baselines.spectral` -- :func:`seqlip`, SeqLip (Virmaux & Scaman 2018);
* :mod:`~lipschitz.baselines.extreme_value` -- :func:`clever`, the CLEVER score (Weng et al.
  2018): an *estimate*, not a bound;
* :mod:`~lipschitz.baselines.common` -- the argument checks and resolved setup they share.

LipSDP and SeqLip bound the l2 norm of the gradient; other input norms use
``||g||_1 <= sqrt(n) ||g||_2`` (input norm ``"inf"``, scale ``sqrt(n)``) and
``||g||_inf <= ||g||_2`` (input norm ``"1"``, scale 1), as in the paper.
"""

from .closed_form import fastlip_bound, gradient_bounds, naive_bound
from .common import l2_scale
from .extreme_value import batch_maxima, clever, fit_reverse_weibull
from .sdp import lipsdp
from .spectral import seqlip

__all__ = [
    "naive_bound",
    "fastlip_bound",
    "gradient_bounds",
    "lipsdp",
    "seqlip",
    "clever",
    "batch_maxima",
    "fit_reverse_weibull",
    "l2_scale",
]
