import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))

from berth_pytest import *  # noqa: E402,F401,F403 (the suite's rules: skips, processes, counts)
