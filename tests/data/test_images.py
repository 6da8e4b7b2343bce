import numpy as np

from hpo.data.images import resize, to_network_input


def test_resize_to_input_size_and_scale():
    images = np.full((3, 8, 8, 3), 255, dtype=np.uint8)
    images[0] = 0
    x = to_network_input(images, 32)
    assert x.shape == (3, 32, 32, 3) and x.dtype == np.float32
    assert np.allclose(x[0], -1) and np.allclose(x[1:], 1)
    assert resize(images, 8).dtype == np.float32  # same size: no interpolation
