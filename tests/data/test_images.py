import numpy as np
import pytest

from hpo.data.images import resize, to_network_input


def test_resize_to_input_size_and_scale():
    images = np.full((3, 8, 8, 3), 255, dtype=np.uint8)
    images[0] = 0
    x = to_network_input(images, 32)
    assert x.shape == (3, 32, 32, 3) and x.dtype == np.float32
    assert np.allclose(x[0], -1) and np.allclose(x[1:], 1)
    assert resize(images, 8).dtype == np.float32  # same size: no interpolation


def test_resizing_more_than_memory_holds_is_refused_before_allocating(monkeypatch):
    from hpo.data import base
    from hpo.data.images import resize
    from hpo.errors import UserError

    monkeypatch.setattr(base, "_available_memory", lambda: 1 << 20)  # 1 MiB; 100 images of 64 px need 4.7
    with pytest.raises(UserError, match=r"^resizing 100 images to input_size=64 needs 4.7 MiB, more than the 1.0 MiB "
                                        r"of memory available: lower input_size \(the profile's space, or "
                                        r"--input-size\)$"):
        resize(np.zeros((100, 8, 8, 3), np.uint8), 64)
    assert resize(np.zeros((2, 8, 8, 3), np.uint8), 16).shape == (2, 16, 16, 3)  # 6 KiB fits
