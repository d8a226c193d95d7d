"""Load the repository's command-line scripts (``tools/``, ``datasets/``) as modules, for tests."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(relative_path: str, module_name: str = ""):
    """Execute ``REPO/relative_path`` as a fresh module (default name: the file's base name)."""
    path = os.path.join(REPO, relative_path)
    name = module_name or os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
