"""Permission classes of the API: thin wrappers over the checks in `clinic.access`.

The querysets already hide what a user may not see (404); these answer 403 for
an action on something the user can see but may not change.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from clinic import access


class _ObjectChecks(BasePermission):
    """Map the HTTP method to a create / change / delete check from `access`."""

    can_create = None
    can_change = None
    can_delete = None

    def has_permission(self, request, view) -> bool:
        if request.method == "POST" and self.can_create is not None:
            return self.can_create(request.user)
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        if request.method == "DELETE":
            return self.can_delete(request.user, obj)
        return self.can_change is None or self.can_change(request.user, obj)


class PatientPermission(_ObjectChecks):
    can_create = staticmethod(access.can_create_patient)
    can_change = staticmethod(access.can_change_patient)
    can_delete = staticmethod(access.can_delete_patient)


class DoctorPermission(_ObjectChecks):
    can_create = staticmethod(access.can_create_doctor)
    can_change = staticmethod(access.can_change_doctor)
    can_delete = staticmethod(access.can_delete_doctor)


class AppointmentPermission(_ObjectChecks):
    """Booking: patients and staff. Edits are checked move by move inside `clinic.booking`."""

    can_create = staticmethod(lambda user: access.can_book(user))
    can_change = None
    can_delete = staticmethod(access.can_delete_appointment)


class AppointmentTypePermission(BasePermission):
    """Reading: any signed-in user (the selector decides which); writing: the front desk."""

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or access.can_manage_appointment_types(request.user)


class SeriesPermission(BasePermission):
    """Booking a series: the front desk. Reading and cancelling: what the selector and the
    cancel rules allow."""

    def has_permission(self, request, view) -> bool:
        if getattr(view, "action", None) == "create":
            return access.can_book_series(request.user)
        return True


class WaitlistPermission(BasePermission):
    """Patients and the front desk; doctors have no waitlist (403)."""

    def has_permission(self, request, view) -> bool:
        return access.can_use_waitlist(request.user)


class CanBook(BasePermission):
    def has_permission(self, request, view) -> bool:
        return access.can_book(request.user)


class MedicalRecordPermission(_ObjectChecks):
    """Reception and users without a clinical role get 403 on every record endpoint."""

    can_change = staticmethod(access.can_change_medical_record)
    can_delete = staticmethod(access.can_delete_medical_record)

    def has_permission(self, request, view) -> bool:
        if not access.can_see_medical_records(request.user):
            return False
        if request.method == "POST":
            # Which appointment a record may be written for is checked in clinic.records.
            return access.role_of(request.user) in {access.Role.DOCTOR, access.Role.ADMIN}
        return True


class CanExportAppointments(BasePermission):
    def has_permission(self, request, view) -> bool:
        return access.can_export_appointments(request.user)
