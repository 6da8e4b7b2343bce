import numpy as np
import pytest

from hpo.data.base import ImageFiles, load
from hpo.data.image_folder import list_folder
from hpo.data.prepared import split_images
from hpo.errors import UserError
from hpo.profiles import DatasetSpec
from tests.data.image_tree import jpeg_bytes, make_tree

COUNTS = {"cat": 14, "dog": 12, "owl": 10}


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "photos", COUNTS)


def spec(path, **keys) -> DatasetSpec:
    return DatasetSpec(**{"name": "mine", "format": "image_folder", "path": str(path), "train": 12, "val": 6,
                          "test_per_class": 3, "image_size": 24, **keys})


def test_classes_labels_and_counts_follow_the_folders(tree):
    listing = list_folder(str(tree))
    assert listing.class_names == ("cat", "dog", "owl")
    assert np.bincount(listing.labels).tolist() == [14, 12, 10]
    assert {p.suffix for p in listing.files} == {".png", ".jpg", ".bmp", ".gif"}
    assert any(p.parent.name == "nested" for p in listing.files)  # a nested folder belongs to its class
    for file, label in zip(listing.files, listing.labels, strict=True):
        assert file.relative_to(tree).parts[0] == listing.class_names[label]
    assert sorted(p.name for p in listing.ignored) == ["README.md", "notes.txt", "notes.txt", "notes.txt"]


def test_images_are_decoded_only_when_indexed_and_come_out_rgb_at_image_size(tree):
    images = load("image_folder", str(tree), size=24)
    assert isinstance(images.images, ImageFiles) and images.images.shape == (36, 24, 24, 3)
    assert images.ignored_files == 4 and images.skipped_files == ()
    some = images.images[[0, 1, 2, 3]]  # PNG RGB, JPEG grey, BMP RGBA, GIF palette
    assert some.shape == (4, 24, 24, 3) and some.dtype == np.uint8
    assert (some[1, ..., 0] == some[1, ..., 1]).all()  # a grey image repeats its channel


def test_splits_are_deterministic_and_balanced(tree):
    images = load("image_folder", str(tree), size=24)
    first, _ = split_images(images, spec(tree), seed=3)
    again, _ = split_images(load("image_folder", str(tree), size=24), spec(tree), seed=3)
    other, _ = split_images(images, spec(tree), seed=4)
    assert np.array_equal(first.x_train, again.x_train) and np.array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.x_train, other.x_train)
    assert np.bincount(first.y_test).tolist() == [3, 3, 3] and len(first.y_train) == 12 and len(first.y_val) == 6


def test_a_file_that_is_not_an_image_is_one_line_naming_it(tree):
    (tree / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(UserError, match=r"broken\.jpg is not a readable image .*: replace or delete it, or set "
                                        r"skip_unreadable: true"):
        load("image_folder", str(tree), size=24)


def test_a_truncated_jpeg_stops_the_split_that_decodes_it(tree):
    data = jpeg_bytes(np.random.default_rng(0))
    (tree / "owl" / "cut.jpg").write_bytes(data[:len(data) // 2])  # its header is whole
    images = load("image_folder", str(tree), size=24)
    with pytest.raises(UserError, match=r"cut\.jpg is not a readable image \(image file is truncated"):
        images.images[np.arange(len(images.labels))]


def test_skip_unreadable_leaves_them_out_and_says_which(tree):
    data = jpeg_bytes(np.random.default_rng(0))
    (tree / "owl" / "cut.jpg").write_bytes(data[:len(data) // 2])
    (tree / "dog" / "broken.png").write_bytes(b"garbage")
    images = load("image_folder", str(tree), size=24, skip_unreadable=True)
    assert len(images.labels) == 36 and np.bincount(images.labels).tolist() == [14, 12, 10]
    assert [s.split(": ")[0].rsplit("/", 1)[-1] for s in images.skipped_files] == ["broken.png", "cut.jpg"]
    assert images.images[np.arange(36)].shape == (36, 24, 24, 3)  # everything left decodes


def test_a_class_too_small_is_named_with_its_count(tmp_path):
    tree = make_tree(tmp_path / "photos", {"cat": 14, "dog": 12, "owl": 2})
    images = load("image_folder", str(tree), size=24)
    with pytest.raises(UserError, match=r"mine: class 'owl' has 2 images, fewer than test_per_class=3"):
        split_images(images, spec(tree), seed=0)
    with pytest.raises(UserError, match=r"mine: class 'owl' has 1 image\(s\) left after the test set"):
        split_images(images, spec(tree, test_per_class=1), seed=0)


@pytest.mark.parametrize("build, message", [
    (lambda root: root, "is not a folder"),
    (lambda root: (root / "only").mkdir(parents=True) or root, "has 1 class folder"),
    (lambda root: [(root / c).mkdir(parents=True) for c in "ab"] and root, "class folder .*a has no images"),
])
def test_a_folder_without_classes_is_one_line(tmp_path, build, message):
    with pytest.raises(UserError, match=message):
        load("image_folder", str(build(tmp_path / "photos")), size=24)


def test_the_profile_requires_image_size_for_a_folder_and_refuses_it_elsewhere(tree):
    with pytest.raises(ValueError, match="image_size: an image_folder dataset needs"):
        spec(tree, image_size=None)
    with pytest.raises(ValueError, match="only image_folder, mio_tcd, stanford_dogs take image_size"):
        spec(tree, format="digits")
    with pytest.raises(ValueError, match="skip_unreadable: only the image_folder format"):
        spec(tree, format="mio_tcd", skip_unreadable=True)
    assert spec(tree, skip_unreadable=True).loader_options() == {"size": 24, "skip_unreadable": True}


def test_a_class_folder_may_link_elsewhere_but_not_into_the_images(tmp_path):
    root = make_tree(tmp_path / "photos", {"cats": 3, "dogs": 3})
    outside = make_tree(tmp_path / "more", {"birds": 2}) / "birds"
    (root / "birds").symlink_to(outside, target_is_directory=True)
    listing = list_folder(str(root))
    assert listing.class_names == ("birds", "cats", "dogs") and np.bincount(listing.labels).tolist() == [2, 3, 3]
    for name, target in (("loop", root), ("cats again", root / "cats"), ("above", tmp_path)):
        link = root / name
        link.symlink_to(target, target_is_directory=True)
        with pytest.raises(UserError, match=f"class folder {link} is a link to .*inside or above the image folder"):
            list_folder(str(root))
        link.unlink()
