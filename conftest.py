"""Settings for every test session (tests/ and the doctests under envs/, see pyproject testpaths).

torch runs on one intra-op thread, as each environment does while it works: numbers then do not
depend on the machine's core count (a reduction split over more threads can change its last
bits), and a test run does not fight a neighbour's processes for the cores.
"""

import torch

# At import, not in a fixture: collection already runs torch code (module-level models, doctest
# collection), and a conftest at the rootdir is imported before any of it.
torch.set_num_threads(1)
