"""Central finite differences of a loss over conductances: the independent check of a gradient."""

import numpy as np


def central_differences(loss_of, g0, picks, rel_step=1e-6):
    """(loss_of(g0 + h·e_k) − loss_of(g0 − h·e_k)) / 2h for each k in picks, h = rel_step·g0[k]."""
    out = []
    for k in picks:
        h = rel_step * g0[k]
        gp, gm = g0.copy(), g0.copy()
        gp[k] += h
        gm[k] -= h
        out.append((loss_of(gp) - loss_of(gm)) / (2 * h))
    return np.array(out)
