import os

import pytest
import torch

# Tests run on the CPU in fast mode, whatever the machine has.
os.environ.setdefault("COURSE_FAST", "1")
os.environ.setdefault("COURSE_DEVICE", "cpu")


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    yield
