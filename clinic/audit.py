"""The access log of medical-record reads (clinic.models.RecordAccess).

Every request that shows medical records to someone — the API's list and detail, the
admin's record pages and the records inlines of a patient or an appointment — calls
`record_reads_log` once with the ids it showed. One INSERT per request, however many
records: the ids are a list in the row. The change history (simple-history) keeps
who wrote what; this log keeps who read what.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from clinic.lockout import client_address
from clinic.models import RecordAccess

if TYPE_CHECKING:
    from django.http import HttpRequest

    from clinic.models import User

PATH_MAX = RecordAccess._meta.get_field("path").max_length


def record_reads_log(
    *, user: User, request: HttpRequest, record_ids: Iterable[int], channel: str = RecordAccess.Channel.API
) -> RecordAccess:
    """Log that `user` was shown the records `record_ids` in answer to `request`.

    A list that matched no records is logged too (with no ids): what was searched
    for is in the path.
    """
    signed_in = user is not None and user.is_authenticated
    return RecordAccess.objects.create(
        user=user if signed_in else None,
        username=user.get_username() if signed_in else "",
        channel=channel,
        method=request.method or "",
        path=request.get_full_path()[:PATH_MAX],
        ip_address=_address(request),
        record_ids=sorted({int(pk) for pk in record_ids}),
    )


def _address(request: HttpRequest) -> str | None:
    try:
        return str(ipaddress.ip_address(client_address(request) or ""))
    except ValueError:
        return None
