"""Uploaded files: read within a size limit, their type detected from the bytes, and opened again from storage
for a download.

Used by the technicians' evidence (fieldwork) and the work store staff attach to a stage (workflows): the
uploader's file name and Content-Type are never trusted, the storage name is the server's, and a download is
read through the file field's storage (never a path under MEDIA_ROOT) and answered by a
`core.api.AttachmentApi` view.
"""

from __future__ import annotations

import logging

from django.core.files import File
from django.db.models.fields.files import FieldFile
from django.utils.translation import gettext as _

from core.errors import DomainError, NotFound

logger = logging.getLogger(__name__)

IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
PDF = "application/pdf"
OPAQUE = "application/octet-stream"
EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic", PDF: "pdf",
}


def detect_image(data: bytes) -> str | None:
    """The MIME type of a real JPEG/PNG/WebP image, or None. Pillow reads the header and
    verifies the file's structure; the uploader's name and Content-Type are not trusted."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format
                img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, EOFError,
            Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None
    return IMAGE_FORMATS.get(fmt or "")


def detect_document(data: bytes) -> str | None:
    """A real image's type, or PDF for a file that starts like one; None for anything else."""
    if detected := detect_image(data):
        return detected
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def extension_for(content_type: str) -> str:
    """The extension a stored or downloaded file of this (detected) type gets; `bin` for opaque bytes."""
    return EXTENSIONS.get(content_type, "bin")


def upload_read(file, *, max_bytes: int, field: str = "file") -> bytes:
    """The whole upload, refused (400, a field error under `field`) when empty or above `max_bytes`. Reads
    at most one byte more than the limit, whatever size the upload claims."""
    size = getattr(file, "size", None)
    too_large = DomainError(_("The file is too large."), code="invalid",
                            errors={field: [_("Files are at most %(max_bytes)s bytes.") % {"max_bytes": max_bytes}]})
    if size is None or size > max_bytes:
        raise too_large
    data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large
    if not data:
        raise DomainError(_("The file is empty."), code="invalid", errors={field: [_("The file is empty.")]})
    return data


def stored_file_open(field_file: FieldFile, *, missing: str, code: str) -> File:
    """The stored file, opened for reading through its field's storage; NotFound(`missing`, `code`) when the
    row names no file or the storage no longer has it."""
    name = field_file.name
    if not name:
        raise NotFound(missing, code=code)
    try:
        return field_file.storage.open(name, "rb")
    except OSError:  # FileNotFoundError, or a storage that cannot read it
        logger.warning("%s: file %r missing from storage", code, name)
        raise NotFound(missing, code=code) from None
