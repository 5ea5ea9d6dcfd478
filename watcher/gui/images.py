"""JPEG bytes into Tk images (Pillow), scaled to fit a box."""

from __future__ import annotations

import io
import logging

from PIL import Image, ImageTk, UnidentifiedImageError

log = logging.getLogger("vigia.watcher.gui.images")


def photo(
    jpeg: bytes, width: int, height: int, *, master: object = None
) -> ImageTk.PhotoImage | None:
    """`jpeg` scaled (never up) to fit `width` x `height`; None if it is not a picture."""
    try:
        with Image.open(io.BytesIO(jpeg)) as image:
            image.draft("RGB", (width, height))  # JPEG: decode at a reduced size, much faster
            picture = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        log.warning("cannot decode a picture of %d bytes: %s", len(jpeg), exc)
        return None
    picture.thumbnail((width, height))
    return ImageTk.PhotoImage(picture, master=master)
