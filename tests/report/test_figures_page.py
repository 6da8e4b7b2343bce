"""Figures (PNG and SVG, the same bytes for the same data) and the page's HTML pieces."""

import math

import numpy as np
import pandas as pd

from hpo.report import figures, page
from hpo.report.importance import Marginal
from hpo.report.queries import Point, RunData


def _anytime():
    return pd.DataFrame({"method": ["grid"] * 3 + ["asha"] * 2, "epochs charged": [1, 2, 3, 1, 2],
                         "best val_accuracy": [0.2, 0.5, 0.5, 0.3, 0.6]})


def test_a_figure_is_saved_as_png_and_svg_with_the_same_bytes_every_time(tmp_path):
    first = figures.save(figures.anytime_figure(_anytime(), "digits", 4), tmp_path / "a" / "anytime_digits")
    again = figures.save(figures.anytime_figure(_anytime(), "digits", 4), tmp_path / "b" / "anytime_digits")
    assert [p.name for p in first] == ["anytime_digits.png", "anytime_digits.svg"]
    assert first[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in first[1].read_bytes()
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]


def test_importance_marginal_and_curve_figures_draw(tmp_path):
    table = pd.DataFrame({"hyperparameter": ["lr", "dropout"], "digits": [0.6, 0.1], "digits std": [0.1, 0.05],
                          "all datasets": [0.5, 0.2], "all datasets std": [0.1, math.nan]})
    figures.save(figures.importance_figure(table), tmp_path / "importance")
    marginals = [Marginal("lr", "log", [1e-4, 1e-3, 1e-2], np.array([0.5, 0.7, 0.6]), np.array([0.1, 0.1, 0.1])),
                 Marginal("optimizer", "categorical", ["adam", "sgd"], np.array([0.6, 0.5]), np.zeros(2))]
    figures.save(figures.marginals_figure(marginals, "digits", 6), tmp_path / "marginals")
    curve = {k: [Point(i, i, 0.1 * i) for i in (1, 2, 3)] for k in ("train_loss", "val_loss", "train_accuracy",
                                                                    "val_accuracy")}
    best = {"grid": (RunData("r1", "1", "", "FINISHED", 0, {"trial": "2"}, {}, {}, histories=curve), 3, 0.3)}
    figures.save(figures.curves_figure(best, "digits"), tmp_path / "curves")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "curves.png", "curves.svg", "importance.png", "importance.svg", "marginals.png", "marginals.svg"]


def test_table_html_escapes_bolds_the_best_and_links():
    frame = pd.DataFrame({"dataset": ["<digits>", "fashion"], "grid val": [0.9, 0.5], "tpe val": [0.9, math.nan],
                          "run": ["abc", "def"]})
    best = page.best_cells(frame, ["grid val", "tpe val"])
    assert best == [(0, "grid val"), (0, "tpe val"), (1, "grid val")]
    html = page.table_html(frame, best, links={"run": lambda r: f"http://ui/#/runs/{r}" if r == "abc" else None})
    assert "<td>&lt;digits&gt;</td>" in html and "<td class=\"num\">-</td>" in html
    assert '<td class="num best">0.9</td>' in html and '<td class="num">0.5</td>' not in html
    assert '<a href="http://ui/#/runs/abc">abc</a>' in html and "<td>def</td>" in html


def test_the_page_is_static_and_self_contained():
    html = page.render("Report <x>", page.paragraph("intro"), [
        ("s1", "Study I", page.not_run_html("no FINISHED study run")),
        ("s2", "Study II", page.row_html([page.figure_html("figures/a.png", "figures/a.svg", "A", "A")]))])
    assert html.startswith("<!DOCTYPE html>") and "<title>Report &lt;x&gt;</title>" in html
    assert '<p class="notrun"><strong>not run</strong>: no FINISHED study run</p>' in html
    assert '<img src="figures/a.png" alt="A">' in html and '<a href="#s2">Study II</a>' in html
    assert "<script" not in html and "<link" not in html and "src=\"http" not in html
