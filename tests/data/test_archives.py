import io
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from hpo.data.archives import MARKER, extract, extracted_dir, read_image, read_images, redownload
from hpo.errors import UserError

HOME = "https://example.org/dataset"


def _tar(path, members: dict[str, bytes], mode="w:gz"):
    with tarfile.open(path, mode) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or p.name.endswith(".extracted"))


def test_extracts_once_next_to_the_archive(tmp_path):
    archive = tmp_path / "data.tar.gz"
    _tar(archive, {"data/a.txt": b"alpha", "data/sub/b.txt": b"beta"})
    dest = extract(archive, HOME)
    assert dest == extracted_dir(archive) == tmp_path / "data.tar.gz.extracted"
    assert (dest / "data" / "a.txt").read_bytes() == b"alpha" and (dest / MARKER).is_file()
    (dest / "data" / "a.txt").write_bytes(b"changed")
    assert extract(archive, HOME) == dest
    assert (dest / "data" / "a.txt").read_bytes() == b"changed"  # not extracted a second time
    assert _leftovers(tmp_path) == ["data.tar.gz.extracted"]


def test_a_new_copy_of_the_archive_is_extracted_again(tmp_path):
    archive = tmp_path / "data.tar"
    _tar(archive, {"a.txt": b"old"}, mode="w")
    extract(archive, HOME)
    _tar(archive, {"a.txt": b"new content"}, mode="w")
    os.utime(archive, ns=(1, 1))  # a different mtime, whatever the clock resolution
    assert (extract(archive, HOME) / "a.txt").read_bytes() == b"new content"


def test_missing_archive_says_where_to_download(tmp_path):
    with pytest.raises(UserError, match=r"none\.tar\.gz not found: download it from https://example.org"):
        extract(tmp_path / "none.tar.gz", HOME)


@pytest.mark.parametrize("name, mode, cut",
                         [("d.tar.gz", "w:gz", 0.5), ("d.tar", "w", 0.5), ("d.tar.gz", "w:gz", 0.02)])
def test_truncated_archive_is_named_and_leaves_nothing(tmp_path, name, mode, cut):
    archive = tmp_path / name
    rng = np.random.default_rng(0)
    _tar(archive, {f"f{i}.bin": rng.bytes(20_000) for i in range(3)}, mode=mode)
    raw = archive.read_bytes()
    archive.write_bytes(raw[:int(len(raw) * cut)])
    with pytest.raises(UserError, match=rf"{name} is corrupt or truncated .*download it again from {HOME}"):
        extract(archive, HOME)
    assert _leftovers(tmp_path) == []


def test_not_an_archive_is_named(tmp_path):
    archive = tmp_path / "x.tar.gz"
    archive.write_bytes(b"this is not a tar file at all" * 40)
    with pytest.raises(UserError, match="x.tar.gz is corrupt or truncated"):
        extract(archive, HOME)


def test_member_escaping_the_folder_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    archive = tmp_path / "in" / "evil.tar.gz"
    _tar(archive, {"ok.txt": b"fine", "../evil": b"gotcha"})
    with pytest.raises(UserError, match=r"member '\.\./evil' refused .*not the original archive"):
        extract(archive, HOME)
    assert not (tmp_path / "in" / "evil").exists() and not (tmp_path / "evil").exists()
    assert _leftovers(tmp_path / "in") == []


def test_link_out_of_the_folder_is_refused(tmp_path):
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tar:
        link = tarfile.TarInfo("escape")
        link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        tar.addfile(link)
    with pytest.raises(UserError, match="member 'escape' refused"):
        extract(archive, HOME)
    assert _leftovers(tmp_path) == []


def test_read_image_converts_modes_and_resizes(tmp_path):
    colour = (200, 40, 90)
    cases = {"rgb.jpg": Image.new("RGB", (30, 20), colour),
             "grey.jpg": Image.new("L", (10, 40), 77),
             "cmyk.jpg": Image.new("RGB", (12, 12), colour).convert("CMYK"),
             "rgba.png": Image.new("RGBA", (8, 8), colour + (10,))}
    for name, image in cases.items():
        image.save(tmp_path / name)
    out = read_images([tmp_path / n for n in cases], 16, redownload(HOME))
    assert out.shape == (4, 16, 16, 3) and out.dtype == np.uint8
    assert np.abs(out[0].astype(int) - colour).max() <= 6
    assert np.abs(out[1].astype(int) - 77).max() <= 2
    assert np.abs(out[2].astype(int) - colour).max() <= 12  # CMYK round trip is lossy
    assert (out[3] == colour).all()  # alpha dropped, PNG exact


def test_corrupt_image_is_named(tmp_path):
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8 not really a jpeg")
    for bad in (truncated, garbage):
        with pytest.raises(UserError, match=rf"{bad.name} is not a readable image .*download the dataset again"):
            read_images([good, bad], 8, redownload(HOME))
    with pytest.raises(UserError, match="missing.jpg is not a readable image"):
        read_image(tmp_path / "missing.jpg", 8, redownload(HOME))
