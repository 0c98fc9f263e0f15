"""A real `qcluster` worker under the production log format: the lines of a task that a request
queued carry that request's id (clinic.tasks passes it along, clinic.logs sets it in the task)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from tests.emails.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


def test_the_workers_log_line_of_an_email_carries_the_booking_requests_id(
    workers, smtp_server, patient, doctor, next_monday_10
):
    workers.env_extra["WORKER_TEST_JSON_LOGS"] = "true"
    workers.start()
    client = APIClient()
    client.force_authenticate(patient.user)
    response = client.post(
        "/book-appointment/",
        {"doctor": doctor.pk, "appointment_time": next_monday_10.isoformat()},
        format="json",
        HTTP_X_REQUEST_ID="booking-req-0042",
    )
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == "booking-req-0042"
    wait_for(lambda: smtp_server.messages, what="the booked email at the SMTP server")

    def task_line():
        return next(
            (line for line in json_lines(workers.logs()) if line.get("task") == "send_appointment_email"),
            None,
        )

    line = wait_for(task_line, what="the worker's JSON line of the task")
    assert line["request_id"] == "booking-req-0042"
    assert line["logger"] == "clinic.tasks"
    assert patient.user.email not in json.dumps(line)
