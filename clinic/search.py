"""How staff find people: the admin's searches and the front desk's patient search.

A name, username or email is found by its start, case-insensitively; an insurance number
or phone exactly. Prefixes and exact values only, so that on PostgreSQL every test is an
index range scan (the pattern indexes of migration 0005) and a search stays a few
milliseconds at 100,000 patients, where a substring search would read every user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

if TYPE_CHECKING:
    from clinic.models import Patient, User

SEARCH_HELP = (
    "Patients whose surname, first name, username or email starts with each word, "
    "or whose insurance number or phone is what you typed."
)


def clean_term(term: str) -> str:
    """A search term as typed, without NUL characters, which no stored text contains (and which
    PostgreSQL refuses in a query)."""
    return term.replace("\x00", "")


def names_matching(words: list[str], *, specialization: bool = False) -> Q:
    """People (patients or doctors) whose surname, first name, username or email (for doctors
    also the specialization) starts with each word. The columns of one table only, so each
    word is a union of index scans."""
    found = Q()
    for word in words:
        either = (
            Q(user__last_name__istartswith=word)
            | Q(user__first_name__istartswith=word)
            | Q(user__username__istartswith=word)
            | Q(user__email__istartswith=word)
        )
        if specialization:
            either |= Q(specialization__istartswith=word)
        found &= either
    return found


def patients_matching(patients: QuerySet, term: str) -> QuerySet:
    """The ids of the `patients` a search term names: by name (every word), or by the exact
    insurance number or phone. Two indexed queries joined by UNION, because one OR across the
    user's and the patient's columns would have the database read every patient."""
    term = clean_term(term).strip()
    by_name = patients.filter(names_matching(term.split()))
    by_number = patients.filter(Q(insurance_number__iexact=term) | Q(phone=term))
    return by_name.order_by().values_list("pk", flat=True).union(by_number.order_by().values_list("pk", flat=True))


def patients_for_front_desk(user: User, term: str, *, limit: int) -> list[Patient]:
    """The patients `user` may see whom `term` names, at most `limit`, by name, each with
    `no_shows`: their no-shows of the last 12 months, which the front desk sees wherever it
    picks a patient (the booking page, the calendar). Two queries."""
    from clinic import access, booking

    visible = access.patients_visible_to(user)
    found = list(
        visible.filter(pk__in=patients_matching(visible, term)).order_by("user__last_name", "user__first_name", "id")[
            :limit
        ]
    )
    counts = booking.no_shows_by_patient(patient.pk for patient in found)
    for patient in found:
        patient.no_shows = counts.get(patient.pk, 0)
    return found
