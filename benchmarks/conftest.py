import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# rows of the epoch-speed table, filled by test_epoch_speed.py and printed at the end
EPOCH_ROWS: list[dict] = []


def pytest_terminal_summary(terminalreporter):
    if not EPOCH_ROWS:
        return
    write = terminalreporter.write_line
    write("")
    write("epoch time, frozen-feature cache off vs on (median of the epochs after the first)")
    write(f"{'backbone':<10}{'k':>5}{'images':>8}{'uncached s':>12}{'cached s':>10}{'speed-up':>10}"
          f"{'start-up off s':>16}{'start-up on s':>15}")
    by_key: dict = {}
    for row in EPOCH_ROWS:
        by_key.setdefault((row["backbone"], row["k"], row["images"]), {})[row["cached"]] = row
    for (backbone, k, images), pair in by_key.items():
        off, on = pair.get(False), pair.get(True)
        speed = f"{off['epoch'] / on['epoch']:.1f}x" if off and on else "-"
        write(f"{backbone:<10}{k:>5}{images:>8}{off['epoch'] if off else float('nan'):>12.3f}"
              f"{on['epoch'] if on else float('nan'):>10.3f}{speed:>10}"
              f"{off['start'] if off else float('nan'):>16.2f}{on['start'] if on else float('nan'):>15.2f}")
