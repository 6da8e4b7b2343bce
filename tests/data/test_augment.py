import numpy as np
import pytest

from hpo.data.augment import AUGMENTATIONS, augment, rotate, zoom


def _images(n=12, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % 3


def test_four_times_the_images_originals_first_labels_kept():
    x, y = _images()
    xa, ya = augment(x, y, seed=0)
    assert xa.shape == (4 * len(x), *x.shape[1:]) and xa.dtype == np.uint8
    assert np.array_equal(xa[:len(x)], x)
    assert np.array_equal(ya, np.tile(y, 4))
    for copy in range(1, 4):  # every copy is altered, and is the copy of the image at the same place
        block = xa[copy * len(x):(copy + 1) * len(x)]
        assert all(not np.array_equal(a, b) for a, b in zip(block, x, strict=True))


def test_the_copies_are_rotated_zoomed_and_flipped_upside_down():
    x, y = _images()
    xa, _ = augment(x, y, seed=0)
    n = len(x)
    assert list(AUGMENTATIONS) == ["rotation", "zoom", "vertical_flip"]
    assert np.array_equal(xa[3 * n:], x[:, ::-1])  # vertical flip: rows reversed, not a mirror
    # rotation and zoom of at most 10 degrees / 10 %: the centre of a smooth image barely moves
    smooth = np.broadcast_to(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None, None], (4, 16, 16, 3)).copy()
    sa, _ = augment(smooth, np.zeros(4, int), seed=1)
    for block in (sa[4:8], sa[8:12]):
        assert np.abs(block[:, 6:10, 6:10].astype(int) - smooth[:, 6:10, 6:10]).max() <= 255 * 0.25


def test_rotation_and_zoom_helpers():
    x, _ = _images(1)
    assert np.array_equal(rotate(x[0], 0.0), x[0]) and np.array_equal(zoom(x[0], 1.0), x[0])
    corner = np.zeros((9, 9, 3), np.uint8)
    corner[0, 8] = 255
    assert np.array_equal(rotate(corner, 90.0) > 127, np.rot90(corner) > 127)  # counter-clockwise
    square = np.zeros((40, 40, 3), np.uint8)
    square[10:30, 10:30] = 255
    lit = lambda image: int((image[..., 0] > 127).sum())  # noqa: E731
    assert lit(zoom(square, 0.9)) < lit(square) < lit(zoom(square, 1.1))  # above 1 magnifies
    flat = np.full((16, 16, 3), 77, np.uint8)  # edges repeat the border: nothing black comes in
    assert np.array_equal(np.rint(rotate(flat, 7.5)), flat) and np.array_equal(np.rint(zoom(flat, 0.9)), flat)


def test_same_seed_same_copies_and_a_subset_of_augmentations():
    x, y = _images()
    a, _ = augment(x, y, seed=3)
    b, _ = augment(x, y, seed=3)
    c, _ = augment(x, y, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    only_zoom, labels = augment(x, y, seed=3, augmentations=["zoom"])
    assert len(only_zoom) == 2 * len(x) and np.array_equal(labels, np.tile(y, 2))
    assert np.array_equal(only_zoom[len(x):], a[2 * len(x):3 * len(x)])  # one random stream per perturbation
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(x, y, seed=0, augmentations=["shear"])
