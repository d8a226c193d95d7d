"""Config files and overrides for the entry points: YAML read as data only, unknown override
keys and wrongly typed values refused (:func:`load_config`, :func:`apply_overrides`)."""

from .loading import YAML_TARGET_PREFIXES, ConfigError, load_config, load_yaml_config
from .overrides import OPTIONAL_KEYS, apply_overrides

__all__ = [
    "ConfigError",
    "OPTIONAL_KEYS",
    "YAML_TARGET_PREFIXES",
    "apply_overrides",
    "load_config",
    "load_yaml_config",
]
