"""Sphinx configuration for trio_otp.

Built by ``nox -s docs`` (``sphinx-build -W --keep-going``): every warning is an
error, and the build must work offline.

* intersphinx links to Python's and trio's docs from the inventories shipped in
  ``docs/inventories/`` (``refresh.py`` there rebuilds them), never fetched at build
  time. attrs, outcome and typing_extensions have no shipped inventory; their
  names are listed in ``nitpick_ignore_regex`` below so that ``nitpicky`` still
  catches every other broken reference.
* ``_ext/diagrams.py`` draws the pictures at build time (inline SVG, no tool).
* ``_ext/error_boxes.py`` fails the build on an error box in the built HTML (furo's
  ``.. contents::`` box, docutils' system messages), which ``-W`` alone lets through.
* ``_ext/example_pages.py``: the examples' pages (their shown output, the index of them).
* ``_ext/changelog_draft.py`` puts towncrier's draft of the next release's notes
  (from ``newsfragments/``) on the changelog page.
* trio_otp's façade rewrites ``__module__`` of its public objects to ``trio_otp``
  (as trio does), which keeps tracebacks and signatures short but hides the ``#:``
  comments of constants and class attributes, and the source order of members,
  from autodoc, whose source analyzer then reads ``trio_otp/__init__.py``.
  ``_merge_analyzers`` hands it what the private modules say.
* ``_check_api_complete`` fails the build when a name re-exported by
  ``trio_otp/__init__.py`` is missing from the API reference.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import sys
from pathlib import Path
from typing import Any

import attrs
from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))

import trio_otp

project = "trio_otp"
author = "the trio_otp authors"
copyright = "the trio_otp authors"
version = release = trio_otp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinxcontrib_trio",
    "diagrams",
    "error_boxes",
    "changelog_draft",
    "example_pages",
]

exclude_patterns = ["_build", "requirements.txt", "inventories", "_ext"]

# Offline: the inventories are files in the repository (see docs/inventories/refresh.py).
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", "inventories/python.inv"),
    "trio": ("https://trio.readthedocs.io/en/stable", "inventories/trio.inv"),
}

# Like trio's docs: `name` is a cross-reference to a Python object.
default_role = "py:obj"
nitpicky = True
# "more than one target found": the builtin ``type`` in ``serve_tcp(handler:
# type[...])`` also fuzzy-matches the ``type`` fields of ChildInfo and ChildSpec.
# Only ambiguity is silenced (category ref.python); a missing target still fails.
suppress_warnings = ["ref.python"]


def _names(*names: str) -> str:
    return "(" + "|".join(names) + ")"


nitpick_ignore_regex = [
    # Packages without a shipped inventory (Python's and trio's names resolve through
    # intersphinx, offline: see docs/inventories/).
    (r"py:.*", _names("outcome", "attrs", "attr", "typing_extensions", "psycopg") + r"(\..*)?"),
    # Python's inventory names builtins without the module (``type``, not ``builtins.type``).
    (r"py:.*", r"builtins\.\w+"),
    # Type variables of the generic classes (GenServer[S], AsyncTask[T]).
    (r"py:.*", r"(trio_otp\.)?(\w+\.)*(_?[STRF]|Ts)"),
    # JobQueue's private bases (its in-memory core and its durable methods).
    (r"py:class", r"trio_otp\.jobs\._\w+\._\w+"),
    # A private alias in ChildSpec's annotations; the field's text spells it out.
    (r"py:.*", r"(trio_otp\.)?(\w+\.)*ShutdownValue"),
    # The private base of via names (Registry.via, PartitionSupervisor.via).
    (r"py:class", r"trio_otp\._core\._names\._SelfResolvingName"),
    # The type variable of the decorators (JobQueue.register, JobRegistry.register).
    (r"py:class", r"trio_otp\.jobs\._\w+\.F"),
    # trio_otp.testing: the testing executors' private base; Hypothesis (no inventory).
    (r"py:class", r"trio_otp\.testing\._jobs\._Recording"),
    (r"py:.*", r"hypothesis(\..*)?"),
    # PostgresStore's private base and the module its records are defined in (their
    # public names are trio_otp.jobs.X).
    (r"py:class", r"trio_otp\.jobs\._postgres\w*\.\w+"),
    # The job store protocol's records and errors, not on the API page yet.
    (r"py:.*", r"(trio_otp\.jobs\.)?(NewJob|InsertResult|StoreError|StoreSchemaError)"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
# Private aliases in public signatures, spelled out (Registry.start(keys=...)).
autodoc_type_aliases = {"KeysMode": "typing.Literal['unique', 'duplicate']"}
autodoc_inherit_docstrings = False
autodoc_default_options = {"show-inheritance": True}

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

html_theme = "furo"
html_title = f"trio_otp {release}"
html_static_path: list[str] = ["_static"]
html_css_files = ["custom.css"]
pygments_style = "default"

# --------------------------------------------------------------------------------------
# Where each public name really lives (for the doc comments and the completeness check)
# --------------------------------------------------------------------------------------

_PACKAGE = Path(trio_otp.__file__).parent


def _reexports(package: str = "trio_otp") -> dict[str, str]:
    """Public name -> private module it is re-exported from, read from ``__init__``.

    A name a public subpackage re-exports (``from .jobs import JobQueue``) is followed
    to the private module that defines it (``trio_otp.jobs._queue``).
    """
    init = _PACKAGE.joinpath(*package.split(".")[1:], "__init__.py")
    tree = ast.parse(init.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            module = f"{package}.{node.module}"
            inner = _reexports(module) if not node.module.startswith("_") else {}
            for alias in node.names:
                name = alias.asname or alias.name
                if not name.startswith("_"):  # __version__
                    found[name] = inner.get(alias.name, module)
    return found


#: The façade's names (documented as ``trio_otp.X``) and the job package's own
#: (documented as ``trio_otp.jobs.X``; the façade re-exports some of them).
REEXPORTS = _reexports()
JOBS_REEXPORTS = {
    name: module for name, module in _reexports("trio_otp.jobs").items() if name not in REEXPORTS
}


def _merge_analyzers() -> None:
    """Let autodoc find the ``#:`` comments and source order of re-exported names.

    autodoc reads doc comments and ``bysource`` order from the source of the module
    an object claims (``__module__``), which the façade rewrites to ``trio_otp``.
    The analyzer of ``trio_otp`` is given those of the private modules.
    """
    for package, names in (("trio_otp", REEXPORTS), ("trio_otp.jobs", JOBS_REEXPORTS)):
        public = ModuleAnalyzer.for_module(package)
        public.analyze()
        for module in sorted(set(names.values())):
            private = ModuleAnalyzer.for_module(module)
            private.analyze()
            for key, lines in private.attr_docs.items():
                public.attr_docs.setdefault(key, lines)
            for key, order in private.tagorder.items():
                public.tagorder.setdefault(key, order)


def _prose_before_colon(
    app: Any, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """Keep napoleon from reading "Some prose: more prose" as "type: description".

    napoleon takes the text before the first colon of a property's or attribute's
    docstring to be its type (Google style ``int: the count``). A first line whose
    part before the colon is a phrase (three or more words) is split after the colon,
    which napoleon leaves alone; the rendered paragraph is unchanged.
    """
    if what not in ("property", "attribute", "data") or not lines:
        return
    head, colon, tail = lines[0].partition(": ")
    prose = "`" not in head and len(head.split()) >= 3
    literal = head.startswith("``") and head.endswith("``")  # never a Google type
    if colon and (prose or literal):
        lines[0:1] = [head + ":", tail]


_ATTRS_DEFAULT = re.compile(r"attr_dict\['(\w+)'\]\.default")


def _attrs_signature(
    app: Any, what: str, name: str, obj: Any, options: Any, signature: str | None, ret: str | None
) -> tuple[str | None, str | None] | None:
    """Show an attrs class's defaults as values, not as ``attr_dict['x'].default``.

    (``autodoc_preserve_defaults`` reads them from attrs' generated ``__init__``.) A
    default computed from the other fields (``ChildSpec.shutdown``) shows as ``...``;
    the field's description says what it is.
    """
    if what not in ("class", "exception") or not signature or not attrs.has(obj):
        return None
    fields = attrs.fields_dict(obj)
    signature = _ATTRS_DEFAULT.sub(lambda m: repr(fields[m.group(1)].default), signature)
    return signature.replace("= NOTHING", "= ..."), ret


class ModuleDoc(SphinxDirective):
    """Insert a module's docstring: ``.. moduledoc:: trio_otp._supervision._supervisor``.

    The private modules' docstrings are the user-facing description of each part
    (Elixir's order: examples, child specification, strategies, exit reasons); the
    API reference shows them without documenting the private module itself. A path
    relative to the document (``../examples/strategies.py``) inserts the docstring
    of a script that is not importable, such as an example. ``:literal:`` shows it
    as preformatted text instead of parsing it as reStructuredText.
    """

    required_arguments = 1
    option_spec = {"literal": directives.flag}

    def run(self) -> list[nodes.Node]:
        target = self.arguments[0]
        if target.endswith(".py"):
            _, path = self.env.relfn2path(target, self.env.docname)
            try:
                source = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise self.error(f"cannot read {target}: {exc}") from None
            doc = ast.get_docstring(ast.parse(source)) or ""
        else:
            module = importlib.import_module(target)
            path = module.__file__ or target
            doc = inspect.cleandoc(module.__doc__ or "")
        self.env.note_dependency(path)
        if "literal" in self.options:
            return [nodes.literal_block(doc, doc, language="text")]
        container = nodes.container()
        self.state.nested_parse(StringList(doc.splitlines(), source=path), 0, container)
        return container.children


def _resolve_private_paths(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve ``trio_otp._module.Name`` (from annotations) to ``trio_otp.Name``, and
    ``trio_otp.jobs._module.Name`` or a bare ``Name`` to ``trio_otp.Name`` or
    ``trio_otp.jobs.Name``, whichever is documented.

    Generic aliases such as ``NoReply[S]`` are built before the façade rewrites
    ``__module__``, so their annotations still name the private module; the job
    system's annotations (``store: JobStore``) name what ``trio_otp.jobs`` exports,
    and its docstrings name ``JobQueue`` methods from inside ``trio_otp.jobs``.
    """
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py":
        return None
    if target.startswith(("trio_otp._", "trio_otp.jobs._")):
        name = target.split(".")[-1]
    elif not target.startswith("trio_otp.") and target[:1].isupper():
        name = target
    else:
        return None
    objects = env.get_domain("py").objects
    for public in (f"trio_otp.{name}", f"trio_otp.jobs.{name}"):
        if public in objects:
            node["reftarget"] = public
            return env.get_domain("py").resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
            )
    return None


def _resolve_docstring_doc_links(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve ``:doc:`design``` in a docstring shown on an ``api/`` page to the top-level
    page (docstrings name the pages from the top of the docs, wherever they are shown)."""
    target = node.get("reftarget", "")
    if node.get("reftype") != "doc" or target.startswith("/") or target not in env.all_docs:
        return None
    node["reftarget"] = "/" + target
    return env.get_domain("std").resolve_xref(
        env, node["refdoc"], app.builder, "doc", "/" + target, node, contnode
    )


def _resolve_in_public_packages(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a short name in a docstring of ``trio_otp.jobs`` (``JobQueue.submit``,
    ``record``) where it is documented: the class it is shown in, ``trio_otp.jobs`` or
    the façade ``trio_otp`` (the job package's pages use both)."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target or target.startswith("trio_otp"):
        return None
    domain = env.get_domain("py")
    cls = node.get("py:class")
    for prefix in ([f"trio_otp.jobs.{cls}", f"trio_otp.{cls}"] if cls else []) + [
        "trio_otp.jobs",
        "trio_otp",
    ]:
        if f"{prefix}.{target}" in domain.objects:
            return domain.resolve_xref(
                env,
                node["refdoc"],
                app.builder,
                node["reftype"],
                f"{prefix}.{target}",
                node,
                contnode,
            )
    return None


def _public_bases(app: Any, name: str, obj: object, options: Any, bases: list[type]) -> None:
    """Show only public bases (``JobQueue`` is built from two private halves)."""
    bases[:] = [b for b in bases if not b.__name__.startswith("_")]


def _check_api_complete(app: Any, env: Any) -> None:
    """Every name ``trio_otp`` and ``trio_otp.jobs`` export must be in the API reference."""
    documented = set(env.get_domain("py").objects)
    missing = sorted(n for n in REEXPORTS if f"trio_otp.{n}" not in documented)
    missing += sorted(f"jobs.{n}" for n in JOBS_REEXPORTS if f"trio_otp.jobs.{n}" not in documented)
    if missing:
        logging.getLogger(__name__).warning(
            "public names missing from the API reference (docs/api/): %s", ", ".join(missing)
        )


def setup(app: Any) -> None:
    _merge_analyzers()
    # Before napoleon (its priority is the default, 500).
    app.connect("autodoc-process-docstring", _prose_before_colon, priority=400)
    app.connect("autodoc-process-signature", _attrs_signature)
    app.connect("missing-reference", _resolve_private_paths)
    app.connect("missing-reference", _resolve_docstring_doc_links)
    app.connect("missing-reference", _resolve_in_public_packages)
    app.connect("autodoc-process-bases", _public_bases)
    app.add_directive("moduledoc", ModuleDoc)
    app.connect("env-check-consistency", _check_api_complete)
