"""Public namespace ``izhijax.groups``: polychronous groups (Izhikevich 2006), implemented in
:mod:`izhijax._src.groups`.

    import izhijax.groups as grp
    res = grp.polychronous_groups(post, delay, weights, a, d, n_exc)   # the program's search
    res.count, res.groups[0].neurons, res.groups[0].times, res.polyall()
    control = grp.polychronous_groups(post, delay, grp.shuffle_weights(post, weights, n_exc, 0),
                                      a, d, n_exc)
"""

from ._src.groups import (  # noqa: F401
    Group,
    PolychronousGroups,
    polychronous_groups,
    shuffle_weights,
)

__all__ = ["Group", "PolychronousGroups", "polychronous_groups", "shuffle_weights"]
