"""The four methods of Study II, one module each, behind the small `Method` interface."""

from hpo.search.asha import asha
from hpo.search.base import Job, Method
from hpo.search.grid import grid
from hpo.search.random import random_search
from hpo.search.tpe import tpe

METHODS = {"grid": grid, "random": random_search, "tpe": tpe, "asha": asha}

__all__ = ["METHODS", "Job", "Method"]
