"""Install tests/plugins/hpo_local_search as pip installs any package, into a folder put on
sys.path for one test, so the registry finds its entry point (group hpo.methods)."""

import shutil
import subprocess
import sys
from pathlib import Path

from hpo.search import registry

PLUGIN = Path(__file__).parent / "hpo_local_search"


def install_plugin(tmp_path: Path, monkeypatch) -> Path:
    """The folder the plug-in is installed in; the registry is read again, with it."""
    source = shutil.copytree(PLUGIN, tmp_path / "plugin-source")  # the build writes beside its sources
    site = tmp_path / "plugin-site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "hpo_local_search", raising=False)
    registry.registry.cache_clear()
    return site
