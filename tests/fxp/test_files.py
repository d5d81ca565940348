"""fxp.files: directories and file sets appear whole or not at all."""

import os

import pytest

from fxp.files import atomic_directory, atomic_files


def _tree(path):
    out = {}
    for root, _, files in os.walk(path):
        for n in files:
            p = os.path.join(root, n)
            with open(p) as f:
                out[os.path.relpath(p, path)] = f.read()
    return out


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_directory_created_and_replaced_whole(tmp_path):
    out = tmp_path / "a" / "out"
    with atomic_directory(out) as tmp:
        _write(os.path.join(tmp, "x.txt"), "1")
        _write(os.path.join(tmp, "sub", "y.txt"), "2")
        assert not out.exists()
    assert _tree(out) == {"x.txt": "1", os.path.join("sub", "y.txt"): "2"}
    umask = os.umask(0)
    os.umask(umask)
    for d in (out, out / "sub"):                    # not mkdtemp's private 0o700
        assert (d.stat().st_mode & 0o777) == 0o777 & ~umask
    with atomic_directory(out) as tmp:
        _write(os.path.join(tmp, "z.txt"), "3")
    assert _tree(out) == {"z.txt": "3"}               # the old files are gone
    assert sorted(os.listdir(tmp_path / "a")) == ["out"]


def test_directory_failure_keeps_the_old_one(tmp_path):
    out = tmp_path / "out"
    with atomic_directory(out) as tmp:
        _write(os.path.join(tmp, "x.txt"), "old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_directory(out) as tmp:
            _write(os.path.join(tmp, "x.txt"), "new, half written")
            raise RuntimeError("boom")
    assert _tree(out) == {"x.txt": "old"}
    assert os.listdir(tmp_path) == ["out"]
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "never"):
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == ["out"]


def test_files_replaced_together_or_not_at_all(tmp_path):
    _write(str(tmp_path / "a.txt"), "old a")
    _write(str(tmp_path / "keep.txt"), "kept")
    with pytest.raises(RuntimeError):
        with atomic_files(tmp_path, ["a.txt", "b.txt"]) as tmp:
            _write(os.path.join(tmp, "a.txt"), "new a")
            raise RuntimeError("plot failed")
    assert _tree(tmp_path) == {"a.txt": "old a", "keep.txt": "kept"}
    with atomic_files(tmp_path, ["a.txt", "b.txt"]) as tmp:
        _write(os.path.join(tmp, "a.txt"), "new a")
        _write(os.path.join(tmp, "b.txt"), "new b")
    assert _tree(tmp_path) == {"a.txt": "new a", "b.txt": "new b", "keep.txt": "kept"}


def test_a_path_that_cannot_be_a_directory_is_named_as_given_and_nothing_is_created(tmp_path,
                                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    for target, msg in [("afile", "afile: exists and is not a directory"),
                        ("afile/sub/out", "afile/sub/out: afile exists and is not a directory")]:
        with pytest.raises(NotADirectoryError) as info:
            with atomic_directory(target):
                raise AssertionError("never entered")
        assert str(info.value) == msg
        with pytest.raises(NotADirectoryError) as info:
            with atomic_files(target, ["a.txt"]):
                raise AssertionError("never entered")
        assert str(info.value) == msg
    os.mkdir("out")
    os.mkdir(os.path.join("out", "a.txt"))
    with pytest.raises(IsADirectoryError) as info:
        with atomic_files("out", ["b.txt", "a.txt"]):
            raise AssertionError("never entered")
    assert str(info.value) == os.path.join("out", "a.txt") + ": exists and is a directory"
    assert sorted(os.listdir(tmp_path)) == ["afile", "out"]
    assert os.listdir("out") == ["a.txt"]
