"""adowner.simulate: the synthetic marketplace (owners, styles, ads) and its Bitcoin side.

``simulate_marketplace(SimConfig(...))`` returns the tables in memory; ``run_simulation(out, ...)``
(the ``adowner simulate`` command) writes them, then the chain (``simulate.chain``, written by the
chain side), and a summary. See ``marketplace.py`` for the tables.
"""

from adowner.simulate.marketplace import Marketplace, SimConfig, simulate_marketplace
from adowner.simulate.run import run_simulation

__all__ = ["Marketplace", "SimConfig", "run_simulation", "simulate_marketplace"]
