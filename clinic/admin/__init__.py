"""The clinic's staff admin: the site and its dashboard (`site`), one module per area over the
one `ClinicModelAdmin` base (`base`).

Thin by design: who sees what comes from clinic/access.py, and every write of an appointment,
a medical record or a patient's or doctor's account goes through clinic/booking.py,
clinic/records.py and clinic/accounts.py, so the admin obeys the same rules, and queues the
same emails, as the API and the booking pages.
"""

from clinic.admin import appointments, logs, people, records, webhooks  # noqa: F401 (they register the admins)
