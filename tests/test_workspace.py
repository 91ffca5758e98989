"""Workspace: path confinement, read-only rules, layout of a new workspace."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlab_hpc.sandbox import Mount, Sandbox
from mlab_hpc.workspace import LINK_MIN_BYTES, Workspace, WorkspaceError, glob_match


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "sub").mkdir(parents=True)
    (root / "train.csv").write_text("a,b\n1,2\n")
    (root / "train.py").write_text("print('hi')\n")
    (root / "sub" / "notes.txt").write_text("notes\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    return Workspace(root, read_only=["train.csv"])


def escape_kind(ws: Workspace, name: str) -> str:
    with pytest.raises(WorkspaceError) as info:
        ws.resolve(name)
    return info.value.kind


# ------------------------------------------------------------------------------------ resolve
@pytest.mark.parametrize(
    "name", ["..", "../outside.txt", "sub/../../outside.txt", "./../ws/../outside.txt", "sub/../.."]
)
def test_resolve_refuses_dotdot(ws: Workspace, name: str) -> None:
    assert escape_kind(ws, name) == "path_escape"


@pytest.mark.parametrize("name", ["/etc/passwd", "/", "/tmp"])
def test_resolve_refuses_absolute_outside(ws: Workspace, name: str) -> None:
    assert escape_kind(ws, name) == "path_escape"


def test_resolve_refuses_symlink_pointing_outside(ws: Workspace, tmp_path: Path) -> None:
    (ws.root / "link.txt").symlink_to(tmp_path / "outside.txt")
    (ws.root / "etc").symlink_to("/etc")
    (ws.root / "rel").symlink_to("../outside.txt")
    assert escape_kind(ws, "link.txt") == "path_escape"
    assert escape_kind(ws, "etc/passwd") == "path_escape"
    assert escape_kind(ws, "rel") == "path_escape"
    # a prefix of the root's name is not inside it
    sibling = ws.root.parent / (ws.root.name + "2")
    sibling.mkdir()
    assert escape_kind(ws, str(sibling)) == "path_escape"


def test_resolve_accepts_paths_inside(ws: Workspace) -> None:
    assert ws.resolve("train.py") == ws.root / "train.py"
    assert ws.resolve(str(ws.root / "train.py")) == ws.root / "train.py"
    assert ws.resolve(str(ws.root)) == ws.root
    assert ws.resolve(".") == ws.root
    assert ws.resolve("sub/../train.py") == ws.root / "train.py"
    assert ws.resolve("new/file.txt") == ws.root / "new" / "file.txt"  # need not exist
    (ws.root / "inner").symlink_to("sub")
    assert ws.resolve("inner/notes.txt") == ws.root / "sub" / "notes.txt"
    assert ws.relative(ws.resolve(".")) == "."
    assert ws.relative(ws.resolve("sub/notes.txt")) == "sub/notes.txt"


def test_resolve_bad_names(ws: Workspace) -> None:
    assert escape_kind(ws, "") == "bad_arguments"
    assert escape_kind(ws, "   ") == "bad_arguments"
    assert escape_kind(ws, "a\x00b") == "bad_arguments"
    with pytest.raises(WorkspaceError) as info:
        ws.resolve("missing.txt", must_exist=True)
    assert info.value.kind == "not_found"


def test_resolve_symlink_loop_is_a_workspace_error(ws: Workspace) -> None:
    (ws.root / "loop").symlink_to("loop")
    (ws.root / "a").symlink_to("b")
    (ws.root / "b").symlink_to("a")
    for name in ("loop", "a", "loop/x"):
        with pytest.raises(WorkspaceError):
            ws.resolve(name)


# ------------------------------------------------------------------------------------ read-only
@pytest.mark.parametrize("pattern", ["train.csv", "./train.csv"])
@pytest.mark.parametrize(
    "name",
    [
        "train.csv",
        "./train.csv",
        "sub/../train.csv",
        ".//train.csv",
        "via_link.csv",
        "sub/link_up.csv",
    ],
)
def test_read_only_whatever_the_spelling(tmp_path: Path, pattern: str, name: str) -> None:
    root = tmp_path / "ws"
    (root / "sub").mkdir(parents=True)
    (root / "train.csv").write_text("x\n")
    (root / "via_link.csv").symlink_to("train.csv")
    (root / "sub" / "link_up.csv").symlink_to("../train.csv")
    ws = Workspace(root, read_only=[pattern])
    path = ws.resolve(name)
    assert path == root / "train.csv"
    assert ws.is_read_only(path)
    with pytest.raises(WorkspaceError) as info:
        ws.check_writable(path, name)
    assert info.value.kind == "read_only"


def test_other_files_stay_writable(ws: Workspace) -> None:
    for name in ("train.py", "sub/notes.txt", "sub/train.csv", "train.csv.bak", "new.csv"):
        ws.check_writable(ws.resolve(name), name)
    assert not ws.is_read_only(ws.root)


def test_glob_on_a_folder_protects_its_files(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "data" / "deep").mkdir(parents=True)
    (root / "data" / "a.csv").write_text("a")
    (root / "data" / "deep" / "b.csv").write_text("b")
    (root / "database.py").write_text("")
    ws = Workspace(root, read_only=["data"])
    for name in ("data/a.csv", "data/deep/b.csv", "./data/deep/../a.csv", "data/new.csv"):
        assert ws.is_read_only(ws.resolve(name)), name
    assert not ws.is_read_only(ws.resolve("database.py"))
    assert sorted(ws.relative(p) for p in ws.read_only_files()) == ["data/a.csv", "data/deep/b.csv"]


def test_read_only_files_lists_existing_protected_files(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "m").mkdir(parents=True)
    for rel in ("a.npz", "m/b.npz", "c.txt"):
        (root / rel).write_text(rel)
    (root / "link.npz").symlink_to("a.npz")
    ws = Workspace(root, read_only=["**/*.npz"])
    assert sorted(ws.relative(p) for p in ws.read_only_files()) == ["a.npz", "m/b.npz"]
    assert Workspace(root).read_only_files() == []


# ------------------------------------------------------------------------------------ create
def test_create_copies_env_and_data_and_protects(tmp_path: Path) -> None:
    env = tmp_path / "env"
    (env / "lib").mkdir(parents=True)
    (env / "train.py").write_text("print(1)\n")
    (env / "lib" / "util.py").write_text("X = 1\n")
    (env / "environment.txt").write_text("rules\n")
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "train.csv").write_text("a,b\n")
    (data / "images" / "0.png").write_bytes(b"\x89PNG\x00")
    (data / "linked.csv").symlink_to(data / "train.csv")  # copied as a file, never as a link

    ws = Workspace.create(
        tmp_path / "run" / "ws", env, data, read_only=["environment.txt", "./train.csv", "images"]
    )
    root = ws.root
    assert (root / "train.py").read_text() == "print(1)\n"
    assert (root / "lib" / "util.py").read_text() == "X = 1\n"
    assert (root / "train.csv").read_text() == "a,b\n"
    assert (root / "images" / "0.png").read_bytes() == b"\x89PNG\x00"
    assert not (root / "linked.csv").is_symlink()
    assert (root / "linked.csv").read_text() == "a,b\n"
    for rel in ("environment.txt", "train.csv", "images/0.png"):
        assert stat.S_IMODE((root / rel).stat().st_mode) == 0o444, rel
    for rel in ("train.py", "lib/util.py", "linked.csv"):
        assert (root / rel).stat().st_mode & stat.S_IWUSR, rel
    # a copy, not a link: the prepared data is untouched by changes to the workspace
    os.chmod(root / "train.csv", 0o644)
    (root / "train.csv").write_text("tampered\n")
    assert (data / "train.csv").read_text() == "a,b\n"
    # the folder must be new
    with pytest.raises(FileExistsError):
        Workspace.create(root, env, None, read_only=[])


def test_create_without_data(tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.mkdir()
    (env / "train.py").write_text("")
    ws = Workspace.create(tmp_path / "ws", env, None, read_only=[])
    assert sorted(p.name for p in ws.root.iterdir()) == ["train.py"]


# ------------------------------------------------------------------------------------ glob_match
@pytest.mark.parametrize(
    ("rel", "globs", "expected"),
    [
        ("a.npz", ["**/*.npz"], True),
        ("x/y/a.npz", ["**/*.npz"], True),
        ("a.npz.txt", ["**/*.npz"], False),
        ("train.csv", ["./train.csv"], True),
        ("train.csv", ["train.csv"], True),
        ("sub/train.csv", ["train.csv"], False),
        ("sub/a.csv", ["*.csv"], True),  # '*' crosses folders (fnmatch)
        ("data/x", ["data/*"], True),
        ("Train.csv", ["train.csv"], False),  # case-sensitive
        ("a.txt", [], False),
        ("b.txt", ["a.txt", "b.txt"], True),
    ],
)
def test_glob_match(rel: str, globs: list[str], expected: bool) -> None:
    assert glob_match(rel, globs) is expected


def test_protected_folder_is_bound_whole_under_bwrap(bwrap: Sandbox, tmp_path: Path) -> None:
    """A script cannot add, change or remove files in a read-only folder ("data/": the slash
    is the folder itself)."""
    env_dir = tmp_path / "env"
    (env_dir / "data").mkdir(parents=True)
    (env_dir / "data" / "a.csv").write_text("1\n")
    ws = Workspace.create(tmp_path / "ws", env_dir, None, ["data/"])
    assert ws.read_only_mounts() == [ws.root / "data"]
    mounts = [Mount(ws.root, writable=True), *(Mount(p) for p in ws.read_only_mounts())]
    code = (
        "import os\n"
        "for op in (lambda: open('data/new.csv', 'w'), lambda: open('data/a.csv', 'a'),\n"
        "           lambda: os.remove('data/a.csv')):\n"
        "    try:\n"
        "        op(); print('CHANGED')\n"
        "    except OSError as exc:\n"
        "        print('refused', exc.errno)\n"
        "open('free.txt', 'w').write('ok')\n"
    )
    res = bwrap.run(
        [bwrap.python, "-c", code],
        cwd=ws.root,
        mounts=mounts,
        timeout_s=30,
        output_file=tmp_path / "out.txt",
    )
    assert res.returncode == 0, res.output
    assert res.output.count("refused") == 3 and "CHANGED" not in res.output
    assert sorted(p.name for p in (ws.root / "data").iterdir()) == ["a.csv"]
    assert (ws.root / "free.txt").read_text() == "ok"


def test_large_protected_data_is_linked_only_where_asked(bwrap: Sandbox, tmp_path: Path) -> None:
    """Large protected data files are hard links for isolating sandboxes (no copy per run), and
    a script there still cannot change them; small or unprotected files are always copies."""
    env_dir, data = tmp_path / "env", tmp_path / "data"
    env_dir.mkdir()
    (data / "images").mkdir(parents=True)
    big = os.urandom(LINK_MIN_BYTES)
    (data / "images" / "big.npy").write_bytes(big)
    (data / "small.csv").write_text("1\n")
    (data / "scratch.bin").write_bytes(big)  # large but not protected
    protected = ["images/", "small.csv"]

    copied = Workspace.create(tmp_path / "copied", env_dir, data, protected)
    assert all(p.stat().st_nlink == 1 for p in copied.files())

    ws = Workspace.create(tmp_path / "ws", env_dir, data, protected, link_protected_data=True)
    assert os.path.samefile(ws.root / "images" / "big.npy", data / "images" / "big.npy")
    assert (ws.root / "small.csv").stat().st_nlink == 1
    assert (ws.root / "scratch.bin").stat().st_nlink == 1
    mounts = [Mount(ws.root, writable=True), *(Mount(p) for p in ws.read_only_mounts())]
    code = (
        "import os\n"
        "for op in (lambda: open('images/big.npy', 'r+b').write(b'x'),\n"
        "           lambda: os.remove('images/big.npy')):\n"
        "    try:\n"
        "        op(); print('CHANGED')\n"
        "    except OSError as exc:\n"
        "        print('refused', exc.errno)\n"
    )
    res = bwrap.run(
        [bwrap.python, "-c", code],
        cwd=ws.root,
        mounts=mounts,
        timeout_s=30,
        output_file=tmp_path / "out.txt",
    )
    assert res.output.count("refused") == 2 and "CHANGED" not in res.output, res.output
    assert (data / "images" / "big.npy").read_bytes() == big  # the prepared data is intact
