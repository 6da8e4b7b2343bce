import numpy as np

from hpo.data import load


def test_digits_as_rgb_bytes():
    data = load("digits")
    assert data.images.shape == (1797, 8, 8, 3) and data.images.dtype == np.uint8
    assert data.images.max() == 255 and data.images.min() == 0
    assert data.n_classes == 10 and set(np.unique(data.labels)) == set(range(10))


def test_select_classes_relabels_in_order():
    data = load("digits").select_classes([7, 3])
    assert data.class_names == ("7", "3") and set(np.unique(data.labels)) == {0, 1}
    assert len(data.labels) == np.isin(load("digits").labels, [7, 3]).sum()
