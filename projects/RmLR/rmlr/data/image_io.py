"""Reading images with errors that name the file: used by the mapper, the PPDM-style loader (image
sizes from headers) and the demo.

Pillow refuses images whose pixel count is more than twice ``Image.MAX_IMAGE_PIXELS`` (about
179 million by default, a "decompression bomb": a few kilobytes of PNG that would decode to
gigabytes) with ``DecompressionBombError``, whose message does not say which file; here every
failure is an ``OSError`` (``FileNotFoundError`` for a missing file) that names the path.
"""

from typing import Tuple

import numpy as np
from detectron2.data import detection_utils as utils
from PIL import Image

__all__ = ["read_image_checked", "read_image_size"]

# Pillow's errors on corrupt, truncated or hostile files
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def read_image_checked(file_name: str, image_format: str = "RGB") -> np.ndarray:
    """``detection_utils.read_image`` (EXIF orientation applied) with errors that name the path."""
    try:
        return utils.read_image(file_name, format=image_format)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"image not found: {file_name}") from e
    except _IMAGE_ERRORS as e:
        raise OSError(f"cannot read image {file_name}: {e}") from e


def read_image_size(file_name: str, where: str = "") -> Tuple[int, int]:
    """``(width, height)`` from the image header, after EXIF orientation (as
    :func:`read_image_checked` applies it), without decoding the pixels."""
    prefix = f"{where}: " if where else ""
    try:
        with Image.open(file_name) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{prefix}image not found: {file_name}") from e
    except _IMAGE_ERRORS as e:
        raise OSError(f"{prefix}cannot read the image header of {file_name}: {e}") from e
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
