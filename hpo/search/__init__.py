"""Search methods, one module each, behind the small `Method` interface; hpo/search/registry.py
is the one home of what a method is (names, labels, builders, checks), and the one loop that
runs them all is hpo/search/loop.py."""

from hpo.search.base import Job, Method

__all__ = ["Job", "Method"]
