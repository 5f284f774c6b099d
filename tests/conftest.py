import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def write(path, text: str) -> str:
    path.write_text(text)
    return str(path)
