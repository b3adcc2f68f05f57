"""Where the wall-clock bench finds the Elixir reference scripts (bench/peers/elixir.py).

A ``git worktree`` lives outside the main checkout, so ``<repo>/../shared`` is not
the project's shared folder there: the bench must look beside the main checkout too,
or every Elixir row of a run made in a worktree silently says "not found".
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import _bench
import pytest


@pytest.fixture(scope="module")
def elixir() -> ModuleType:
    return _bench.load("peers/elixir")


def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A main checkout with ../shared/reference/elixir, and a worktree elsewhere."""
    main = tmp_path / "work" / "main"
    (main / ".git" / "worktrees" / "wt1").mkdir(parents=True)
    scripts = tmp_path / "work" / "shared" / "reference" / "elixir"
    scripts.mkdir(parents=True)
    worktree = tmp_path / "work" / "wt" / "wt1"
    worktree.mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {main / '.git' / 'worktrees' / 'wt1'}\n")
    return main, worktree, scripts


def test_the_main_checkout_finds_its_sibling(elixir: ModuleType, tmp_path: Path) -> None:
    main, _, scripts = layout(tmp_path)
    assert elixir.scripts_dir(main, {}) == scripts.resolve()


def test_a_worktree_finds_the_main_checkouts_sibling(elixir: ModuleType, tmp_path: Path) -> None:
    _, worktree, scripts = layout(tmp_path)
    assert not (worktree / ".." / "shared").exists()
    assert elixir.scripts_dir(worktree, {}) == scripts.resolve()


def test_the_environment_overrides(elixir: ModuleType, tmp_path: Path) -> None:
    _, worktree, _ = layout(tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert elixir.scripts_dir(worktree, {elixir.EXS_DIR_ENV: str(other)}) == other.resolve()


def test_nowhere_names_the_repositorys_sibling(elixir: ModuleType, tmp_path: Path) -> None:
    lone = tmp_path / "lone"
    lone.mkdir()
    found = elixir.scripts_dir(lone, {})
    assert found == (tmp_path / "shared" / "reference" / "elixir").resolve()
    assert not found.is_dir()
