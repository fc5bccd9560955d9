"""One file field of a multipart/form-data body, read into memory as it streams in.

Starlette's `request.form()` spools every file part over 1 MB to a temporary file on disk;
an upload here never touches the disk: the body is already bounded by the body-size limit
(PERFLAB_MAX_BODY_BYTES), and the bytes go straight to a kernel (or into a job). Parsing is
python-multipart's streaming parser (what Starlette itself uses), fed chunk by chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from python_multipart.multipart import MultipartParser, parse_options_header

from perflab.app.errors import BadRequest, UnsupportedMediaType


class _FieldCollector:
    """Callbacks for python-multipart: keep the data of the part named `field`, once."""

    def __init__(self, field: str) -> None:
        self.field = field.encode()
        self.found = False
        self.data = bytearray()
        self._header_name = b""
        self._header_value = bytearray()
        self._part_name: bytes | None = None
        self._collecting = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._part_name = None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            _, options = parse_options_header(bytes(self._header_value))
            self._part_name = options.get(b"name")
        self._header_name = b""
        self._header_value = bytearray()

    def _headers_finished(self) -> None:
        # The first part with the field's name wins; a repeated field is ignored, as forms do.
        self._collecting = self._part_name == self.field and not self.found

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._collecting:
            self.data += data[start:end]

    def _part_end(self) -> None:
        if self._collecting:
            self.found = True
            self._collecting = False


async def read_file_field(content_type: str, chunks: AsyncIterator[bytes], field: str) -> bytes:
    """The bytes of form field `field` (415 when the body is not multipart, 400 when the field
    is missing or the body is malformed).

    Usage: `data = await read_file_field(request.headers["content-type"], request.stream(), "file")`
    """
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        declared = media_type.decode("latin-1") or "none"
        raise UnsupportedMediaType(f"expected multipart/form-data, got {declared}")
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("the multipart body declares no boundary")
    collector = _FieldCollector(field)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except ValueError as exc:  # python-multipart's MultipartParseError is a ValueError
        raise BadRequest(f"the multipart body is malformed: {exc}") from None
    if not collector.found:
        raise BadRequest(f"the form has no file field {field!r}")
    return bytes(collector.data)
