"""Dates and times for English (LANGUAGE_CODE "en-us" falls back to "en"): day first, 24-hour clock.

What the admin and any template without an explicit format show, matching the booking
pages: "Tue 1 Dec 2026, 10:30", "12:00", "2026-12-01 15:30". Names Django's format lookup
does not find here come from Django's own "en" module.
"""

# Display, in Django's date-format syntax.
DATE_FORMAT = "D j M Y"  # Tue 1 Dec 2026
TIME_FORMAT = "H:i"  # 15:30
DATETIME_FORMAT = "D j M Y, H:i"  # Tue 1 Dec 2026, 15:30
YEAR_MONTH_FORMAT = "F Y"  # December 2026
MONTH_DAY_FORMAT = "j F"  # 1 December
SHORT_DATE_FORMAT = "Y-m-d"  # 2026-12-01
SHORT_DATETIME_FORMAT = "Y-m-d H:i"  # 2026-12-01 15:30
# Calendars start on Monday, as the doctors' working days count from it.
FIRST_DAY_OF_WEEK = 1

# Input, in strftime syntax; the first of each list is how a form shows a value. Numeric
# dates are ISO only: "03/04/2026" would read as a different day to different staff.
DATE_INPUT_FORMATS = [
    "%Y-%m-%d",  # 2026-12-01
    "%d %b %Y",  # 1 Dec 2026
    "%d %B %Y",  # 1 December 2026
]
TIME_INPUT_FORMATS = [
    "%H:%M",  # 15:30
    "%H:%M:%S",  # 15:30:59
    "%H:%M:%S.%f",  # 15:30:59.000200
]
DATETIME_INPUT_FORMATS = [
    "%Y-%m-%d %H:%M",  # 2026-12-01 15:30
    "%Y-%m-%d %H:%M:%S",  # 2026-12-01 15:30:59
    "%Y-%m-%d %H:%M:%S.%f",  # 2026-12-01 15:30:59.000200
]
