"""Rebuild the intersphinx inventories shipped in this folder, from package registries.

The docs build offline (``nox -s docs``; Read the Docs too), so the ``objects.inv``
files intersphinx reads are kept here instead of being fetched from docs.python.org
and trio.readthedocs.io at build time. They only need refreshing when a newer trio or
Python adds names we link to. This script needs no web access beyond the package
registries it installs from:

* ``python.inv``: the Python documentation's inventory, from Debian's
  ``python3.X-doc`` package (``apt-get download``, unpacked with ``dpkg-deb``).
* ``trio.inv``: trio's documentation built from trio's sdist (``pip download``), in a
  throwaway virtualenv with trio's own ``docs-requirements.in``.

Run it from the repository root::

    python docs/inventories/refresh.py [--trio 0.35.0] [--python 3.11]

It prints the number of objects in each inventory it wrote.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(*cmd: str | Path, cwd: Path | None = None) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(list(map(str, cmd)), cwd=cwd, check=True)


def python_inventory(version: str, tmp: Path) -> Path:
    """objects.inv of the Python docs, from Debian's pythonX.Y-doc package."""
    run("apt-get", "download", f"python{version}-doc", cwd=tmp)
    [deb] = tmp.glob(f"python{version}-doc_*.deb")
    run("dpkg-deb", "-x", deb, tmp / "deb")
    # The top of the HTML docs (not the inventories of bundled sub-documents).
    return min((tmp / "deb").glob("usr/share/doc/**/html/objects.inv"), key=lambda p: len(p.parts))


def trio_inventory(version: str, tmp: Path) -> Path:
    """objects.inv of trio's docs, built from trio's sdist with its own requirements."""
    run(
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"trio=={version}",
        "-d",
        tmp,
    )
    [sdist] = tmp.glob("trio-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp, filter="data")
    src = tmp / f"trio-{version}"
    env = tmp / "venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    run(py, "-m", "pip", "install", "-q", "-r", src / "docs-requirements.in", "-e", src)
    # Offline: trio's conf.py fetches inventories, and one of its hooks needs Python's.
    # Point intersphinx at the Python inventory in this folder instead (other links of
    # trio's own pages do not change trio's inventory).
    with (src / "docs" / "source" / "conf.py").open("a") as conf:
        mapping = {"python": ("https://docs.python.org/3", str(HERE / "python.inv"))}
        conf.write(f"\nintersphinx_mapping = {mapping!r}\n")
    run(py, "-m", "sphinx", "-q", "-b", "html", src / "docs" / "source", tmp / "html")
    return tmp / "html" / "objects.inv"


def count(inv: Path) -> int:
    from sphinx.util.inventory import InventoryFile

    with inv.open("rb") as f:
        data = InventoryFile.load(f, "", lambda base, uri: uri)
    items = data.data if hasattr(data, "data") else data  # Sphinx 9 / older
    return sum(len(v) for v in items.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trio", default="0.35.0", help="trio version (default 0.35.0)")
    parser.add_argument("--python", default="3.11", help="Python docs version (default 3.11)")
    parser.add_argument("--only", choices=["trio", "python"], help="refresh one inventory")
    args = parser.parse_args()
    for name, build, version in (
        ("python", python_inventory, args.python),
        ("trio", trio_inventory, args.trio),
    ):
        if args.only and args.only != name:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            inv = build(version, Path(tmp))
            shutil.copyfile(inv, HERE / f"{name}.inv")
        print(f"{name}.inv: {count(HERE / f'{name}.inv')} objects ({name} {version})")


if __name__ == "__main__":
    main()
