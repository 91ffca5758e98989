"""Image commands: build, list, verify each task family's .sif. Registered on `main` by import."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .base import main


def _families(task_list: str | None, family_list: str | None) -> tuple[str, ...]:
    """The families named, or those the given tasks run in, or all of them."""
    from .. import images
    from ..errors import PrerequisiteError
    from ..taskspec import select_tasks

    if family_list:
        chosen = [f.strip() for f in family_list.split(",") if f.strip()]
        unknown = [f for f in chosen if f not in images.FAMILIES]
        if unknown:
            raise PrerequisiteError(
                f"unknown image family {unknown[0]!r} (known: {', '.join(images.FAMILIES)})"
            )
        return tuple(chosen)
    if task_list:
        tasks = select_tasks(task_list)
        return tuple(f for f in images.FAMILIES if any(t.environment == f for t in tasks))
    return images.FAMILIES


def _root(images_dir: Path | None) -> Path:
    from .. import images

    return (images_dir or images.images_dir()).resolve()


images_dir_option = click.option(
    "--images-dir",
    type=click.Path(path_type=Path),
    envvar="MLAB_IMAGES",
    default=None,
    help="Where the .sif files live (default ~/.cache/mlab-hpc/images; env MLAB_IMAGES).",
)
tasks_option = click.option(
    "--tasks", "task_list", default=None, help="all, or task ids: the families they run in."
)
families_option = click.option(
    "--families", "family_list", default=None, help="Families separated by commas (default all)."
)


@main.group()
def images() -> None:
    """Container images, one per task family: Nix builds them, Apptainer runs them."""


@images.command()
@tasks_option
@families_option
@images_dir_option
def build(task_list: str | None, family_list: str | None, images_dir: Path | None) -> None:
    """Build each family's image (nix build .#FAMILY-image, then apptainer build) and record it."""
    from ..images import build as do_build

    for info in do_build(_families(task_list, family_list), _root(images_dir)):
        click.echo(f"{info.family}: {info.path} {info.digest}")


@images.command("list")
@tasks_option
@families_option
@images_dir_option
def list_(task_list: str | None, family_list: str | None, images_dir: Path | None) -> None:
    """Each family's .sif: path, whether it is there, its digest."""
    from ..images import list_images

    for info in list_images(_root(images_dir), _families(task_list, family_list)):
        click.echo(f"{info.family}\t{info.status}\t{info.path}\t{info.digest or '-'}")


@images.command()
@tasks_option
@families_option
@images_dir_option
def verify(task_list: str | None, family_list: str | None, images_dir: Path | None) -> None:
    """Recompute the digests of the images and compare them with the recorded ones."""
    from ..images import verify as do_verify

    root = _root(images_dir)
    checked = do_verify(root, _families(task_list, family_list))
    if not checked:
        click.echo(f"no images in {root}")
        sys.exit(1)
    bad = 0
    for info in checked:
        click.echo(f"{info.family}: {info.status} ({info.digest or info.path})")
        bad += info.status != "ok"
    if bad:
        sys.exit(1)
