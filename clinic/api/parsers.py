"""The API's JSON parser: DRF's, refusing documents it cannot hold as a client error."""

from __future__ import annotations

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

JSON_TOO_DEEP = "JSON parse error - the document is nested too deeply."


class ClinicJSONParser(JSONParser):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE raises Django's RequestDataTooBig (a 400 from
    the API's exception handler), whatever stream the request hands over; a document nested
    deeper than the decoder can follow is a 400 parse error rather than a RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and stream is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
            stream = io.BytesIO(body)
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(JSON_TOO_DEEP) from None
