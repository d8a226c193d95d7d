"""Loading a config file: Python configs as Detectron2 does, YAML configs as data only.

A Python LazyConfig (``.py``) is code, run by ``LazyConfig.load``: use configs you trust, as with
any script. A YAML config (``.yaml`` / ``.yml``, e.g. the ``config.yaml`` every run writes) looks
like data, but Detectron2 reads it with ``yaml.unsafe_load``, which builds any Python object the
file names (``!!python/object/apply:os.system``). Here it is read with a ``yaml.SafeLoader`` that
accepts one Python tag more, ``!!python/tuple`` (plain data), and each ``_target_`` must name a
class or function of the packages configs build from (:data:`YAML_TARGET_PREFIXES`), resolved to
an object defined there, because instantiating a YAML config calls its ``_target_``s. Anything else
raises :class:`ConfigError` naming the file, the tag or target, and the line.
"""

import os
from typing import Optional, Sequence

import yaml
from detectron2.config import LazyConfig
from detectron2.utils.file_io import PathManager
from detectron2.utils.registry import locate
from omegaconf import DictConfig, OmegaConf

__all__ = ["ConfigError", "YAML_TARGET_PREFIXES", "load_config", "load_yaml_config"]

#: Modules whose callables a YAML config may name as ``_target_`` (the packages this project's
#: configs use; a Python config can name anything).
YAML_TARGET_PREFIXES = (
    "rmlr.",
    "detectron2.data.",
    "detectron2.evaluation.",
    "detectron2.solver.",
    "detectron2.modeling.",
    "detectron2.layers.",
    "fvcore.common.param_scheduler.",
    "torch.optim.",
    "torch.nn.",
)


class ConfigError(ValueError):
    """A config file or override that is refused; the message names the file or key."""


class _DataOnlyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus ``!!python/tuple`` (``LazyConfig.save`` may write tuples)."""


_DataOnlyLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple",
    lambda loader, node: tuple(loader.construct_sequence(node)),
)


def _check_targets(node, filename: str, where: str = "") -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if key == "_target_":
                _check_target(value, filename, path)
            else:
                _check_targets(value, filename, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _check_targets(value, filename, f"{where}[{i}]")


def _check_target(target, filename: str, path: str) -> None:
    refused = f"{filename}: {path}={target!r} is refused"
    if not isinstance(target, str) or not target.startswith(YAML_TARGET_PREFIXES):
        raise ConfigError(
            f"{refused}: a YAML config may only name callables of {', '.join(YAML_TARGET_PREFIXES)} "
            "(instantiating a config calls them); write a Python config for anything else"
        )
    try:
        obj = locate(target)
    except Exception as e:  # ImportError, AttributeError ...: the name does not resolve
        raise ConfigError(f"{refused}: it does not name an importable object ({e})") from e
    module = getattr(obj, "__module__", None) or ""
    if not (module + ".").startswith(YAML_TARGET_PREFIXES):
        # e.g. "detectron2.data.build.pickle.loads": a name under an allowed package that
        # reaches a function defined elsewhere
        raise ConfigError(f"{refused}: it resolves to an object of module {module!r}")


def load_yaml_config(filename: str) -> DictConfig:
    """A YAML config as data (module docstring)."""
    try:
        with PathManager.open(filename) as f:
            obj = yaml.load(f, Loader=_DataOnlyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.constructor.ConstructorError as e:
        mark = f" (line {e.problem_mark.line + 1})" if e.problem_mark else ""
        raise ConfigError(
            f"{filename}: refused{mark}: {e.problem}. YAML configs are read as data "
            "(yaml.SafeLoader): Python object tags such as !!python/object/apply are not allowed"
        ) from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{filename}: not a valid YAML file: {e}") from e
    if not isinstance(obj, dict):
        raise ConfigError(f"{filename}: a YAML config must be a mapping, got {type(obj).__name__}")
    _check_targets(obj, filename)
    return OmegaConf.create(obj, flags={"allow_objects": True})


def load_config(filename: str, overrides: Optional[Sequence[str]] = None) -> DictConfig:
    """Load a config file (``.py``, ``.yaml``, ``.yml``) and apply ``key=value`` overrides with
    :func:`rmlr.config.apply_overrides` (unknown keys and wrong types refused)."""
    from .overrides import apply_overrides

    ext = os.path.splitext(filename)[1]
    if ext not in (".py", ".yaml", ".yml"):
        raise ConfigError(f"{filename}: a config file must be .py, .yaml or .yml")
    if not PathManager.isfile(filename):
        raise FileNotFoundError(f"config file {filename!r}: no such file")
    cfg = LazyConfig.load(filename) if ext == ".py" else load_yaml_config(filename)
    return apply_overrides(cfg, list(overrides or []))
