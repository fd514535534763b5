import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))

import berth_testlib as lib  # noqa: E402
from berth_pytest import *  # noqa: E402,F401,F403 (the suite's rules: skips, processes, counts)


@pytest.fixture(scope="session")
def base_image():
    return lib.ensure_base_image()


@pytest.fixture
def project():
    p = lib.unique_project("t-it")
    yield p
    lib.cleanup_project(p)


@pytest.fixture
def berth(tmp_path, project):
    return lib.Berth(str(tmp_path), project)
