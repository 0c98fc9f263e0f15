"""The one base of the clinic's model admins, and the forms that write through the services.

`ClinicModelAdmin` answers every permission question through clinic/access.py (the role,
the rows the user may see, a check per action on one object), sizes changelists for big
tables, logs every page that shows medical records (clinic/audit.py), finds people through
clinic/search.py, and, when its form is a `ServiceForm`, writes through the form's service
so the admin obeys the same rules as the API and the pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.contrib.auth import get_permission_codename
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpResponseRedirect

from clinic import access, audit
from clinic.access import NOT_ALLOWED, Role
from clinic.models import MedicalRecord, RecordAccess
from clinic.pagination import EstimatedCountPaginator
from clinic.search import clean_term, patients_matching

if TYPE_CHECKING:
    from django.http import HttpRequest

    from clinic.models import User

# A search by patient (or doctor) looks at the rows of at most this many matching people.
SEARCH_MATCHES = 500


def refusal_message(exc: Exception) -> str:
    """What a refused service call tells the user."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or NOT_ALLOWED


# --- Forms that write through the services ----------------------------------------------


class _DryRun(Exception):
    """Raised to roll back a trial run of a service."""


class ServiceForm(forms.ModelForm):
    """A model form whose write is a service call.

    `clean()` runs the service once inside a savepoint and rolls it back, so every
    rule the service enforces shows as a form error and nothing is written; the
    admin's `save_model` then runs it for real. The model's own validation is the
    service's job, so `_post_clean` leaves the instance alone.
    """

    actor: User | None = None
    # The fields the admin shows for this user and object; declared fields outside it are dropped.
    shown_fields: tuple[str, ...] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.shown_fields is not None:
            for name in list(self.fields):
                if name not in self.shown_fields:
                    del self.fields[name]

    def apply(self, instance: Model) -> Model:
        raise NotImplementedError

    def _post_clean(self) -> None:
        pass

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self._errors:
            return cleaned
        instance = self.instance
        if instance.pk is not None:
            instance = type(instance)._default_manager.get(pk=instance.pk)
        try:
            with transaction.atomic():
                self.apply(instance)
                raise _DryRun
        except _DryRun:
            pass
        except PermissionDenied as exc:
            raise ValidationError(str(exc) or NOT_ALLOWED, code="permission_denied")
        except ValidationError as exc:
            self._add_service_error(exc)
        return cleaned

    def _add_service_error(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for field, errors in exc.error_dict.items():
            target = field if field in self.fields and field != NON_FIELD_ERRORS else None
            self.add_error(target, errors)


# --- The base admin -------------------------------------------------------------------------


class ClinicModelAdmin(admin.ModelAdmin):
    """Permissions per role through clinic/access.py, big-table changelists, record-read logging,
    people search, and writes through a `ServiceForm`'s service.

    The clinic admin may do everything; reception has the model permissions of its group
    (when `reception_allowed`); a doctor may take `doctor_actions`; anyone else may take none.
    On an object, `object_checks` (or visibility) decides. A role without access to the model
    gets 403 on every URL of it, before any lookup.
    """

    doctor_actions: frozenset[str] = frozenset()
    reception_allowed = True
    #: Actions nobody may take here, the clinic admin included (logs and queues are read only).
    refused_actions: frozenset[str] = frozenset()
    #: The access selector of this admin's rows (wrap in staticmethod), e.g. access.patients_visible_to.
    visible_to: Callable[[Any], QuerySet] | None = None
    #: Per action, the access check on one object (user, obj) -> bool; "view" defaults to visibility.
    object_checks: dict[str, Callable[[Any, Model], bool]] = {}
    #: The path from a row to the patient it belongs to, for searching by patient ("" for the
    #: patients themselves); None keeps Django's search over `search_fields`.
    search_path: str | None = None

    # Sized for big tables: counts that stay cheap (clinic/pagination.py), no second count of
    # the whole table, no per-choice filter counts (each a scan of it).
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    # --- Rows and permissions ------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        if self.visible_to is None:
            return super().get_queryset(request)
        # The changelist adds list_select_related only to a queryset without joins: add them here.
        queryset = self.visible_to(request.user)
        if self.list_select_related:
            queryset = queryset.select_related(*self.list_select_related)
        return queryset.order_by(*self.get_ordering(request))

    def _allows(self, request: HttpRequest, action: str, obj: Model | None = None) -> bool:
        if action in self.refused_actions:
            return False
        user = request.user
        role = access.role_of(user)
        if role is Role.ADMIN:
            allowed = True
        elif role is Role.RECEPTION:
            opts = self.opts
            allowed = self.reception_allowed and any(
                user.has_perm(f"{opts.app_label}.{get_permission_codename(granted, opts)}")
                for granted in ((action, "change") if action == "view" else (action,))
            )
        elif role is Role.DOCTOR:
            allowed = action in self.doctor_actions
        else:
            allowed = False
        return allowed and (obj is None or self.allows_object(request, action, obj))

    def allows_object(self, request: HttpRequest, action: str, obj: Model) -> bool:
        """The access check on one object: `object_checks[action]`, or for viewing (and for any
        action without a check of its own, unless it is "add"), that it is in the user's queryset."""
        check = self.object_checks.get(action)
        if check is not None:
            return check(request.user, obj)
        return action == "add" or self.is_visible(request, obj)

    def is_visible(self, request: HttpRequest, obj: Model) -> bool:
        if access.role_of(request.user) is Role.ADMIN:
            return True
        cache = request.__dict__.setdefault("_clinic_visible", {})
        key = (obj._meta.label, obj.pk)
        if key not in cache:
            cache[key] = self.get_queryset(request).filter(pk=obj.pk).exists()
        return cache[key]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return any(self._allows(request, action) for action in ("view", "add", "change", "delete"))

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allows(request, "view", obj) or self._allows(request, "change", obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._allows(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allows(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allows(request, "delete", obj)

    def _refuse_unless_allowed(self, request: HttpRequest) -> None:
        if not self.has_module_permission(request):
            raise PermissionDenied

    # --- Pages ----------------------------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self._refuse_unless_allowed(request)
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            # A rule that held when the form was checked broke before the write (another
            # booking took the slot meanwhile): the transaction is rolled back; say why.
            self.message_user(request, refusal_message(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        self._refuse_unless_allowed(request)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._refuse_unless_allowed(request)
        response = super().history_view(request, object_id, extra_context)
        self._log_history_read(request, object_id, response)
        return response

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """A version of a clinical object (django-simple-history): a read-only page."""
        self._refuse_unless_allowed(request)
        if request.method == "POST":
            raise PermissionDenied
        response = super().history_form_view(request, object_id, version_id, extra_context)
        self._log_history_read(request, object_id, response)
        return response

    def revert_disabled(self, request, obj=None) -> bool:
        # A revert would write around the services.
        return True

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if self.model is MedicalRecord and changelist is not None:
            self._log_record_reads(request, [record.pk for record in changelist.result_list])
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        response = super().render_change_form(request, context, add, change, form_url, obj)
        shown = [obj.pk] if isinstance(obj, MedicalRecord) and obj.pk is not None else []
        for inline in context.get("inline_admin_formsets", ()):
            if inline.formset.model is MedicalRecord:
                # The inline's forms, built once: the page renders these same instances.
                shown.extend(form.instance.pk for form in inline.formset.initial_forms)
        if shown:
            self._log_record_reads(request, shown)
        return response

    # --- Medical-record reads (clinic.audit) --------------------------------------------

    def _log_record_reads(self, request: HttpRequest, record_ids: list[int]) -> None:
        audit.record_reads_log(
            user=request.user, request=request, record_ids=record_ids, channel=RecordAccess.Channel.ADMIN
        )

    def _log_history_read(self, request: HttpRequest, object_id: str, response) -> None:
        # A record's history shows its notes, old and new.
        if self.model is MedicalRecord and response.status_code == 200:
            self._log_record_reads(request, [int(unquote(object_id))])

    # --- Writes through the services -----------------------------------------------------

    def _writes_through_service(self) -> bool:
        return isinstance(self.form, type) and issubclass(self.form, ServiceForm)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not issubclass(form, ServiceForm):
            return form
        attrs: dict[str, Any] = {"actor": request.user}
        if kwargs.get("fields", ()) is not None:
            readonly = set(self.get_readonly_fields(request, obj))
            shown = flatten_fieldsets(self.get_fieldsets(request, obj))
            attrs["shown_fields"] = tuple(name for name in shown if name not in readonly)
        return type(form.__name__, (form,), attrs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and isinstance(formfield.widget, RelatedFieldWidgetWrapper):
            # No deleting a patient or doctor from inside another form.
            formfield.widget.can_delete_related = False
        return formfield

    def save_model(self, request, obj, form, change):
        if not isinstance(form, ServiceForm):
            return super().save_model(request, obj, form, change)
        saved = form.apply(obj)
        obj.__dict__.update(saved.__dict__)
        return None

    def run_for_each(
        self,
        request,
        queryset,
        service: Callable[[Model], Any],
        done_message: str,
        refused_message: str = "{obj}: {reason}",
    ) -> None:
        """An action: the service on every selected row; a refusal is a warning for that row.
        `done_message` may use {count} and {s} (the plural ending), `refused_message` {obj} and {reason}."""
        done = 0
        for obj in queryset:
            try:
                service(obj)
            except (ValidationError, PermissionDenied) as exc:
                warning = refused_message.format(obj=obj, reason=refusal_message(exc))
                self.message_user(request, warning, messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(request, done_message.format(count=done, s="s" if done != 1 else ""), messages.SUCCESS)

    # --- Search ----------------------------------------------------------------------------

    def get_search_results(self, request, queryset, search_term):
        search_term = clean_term(search_term)
        if self.search_path is None:
            return super().get_search_results(request, queryset, search_term)
        if not search_term.split():
            return queryset, False
        if not self.search_path:  # the patients themselves, a page at a time
            return queryset.filter(pk__in=patients_matching(queryset, search_term)), False
        return queryset.filter(**{f"{self.search_path}_id__in": self.patient_ids(request, search_term)}), False

    def patient_ids(self, request, search_term: str) -> list[int]:
        """The ids of the patients the user may see whom the search names, at most SEARCH_MATCHES.

        The matching patients are found first, by index, then their rows through the row's
        patient index: searching through the joins instead would read every row of a
        million-row table."""
        return self.matching_ids(request, patients_matching(access.patients_visible_to(request.user), search_term))

    @staticmethod
    def matching_ids(request, ids: QuerySet, kind: str = "patients") -> list[int]:
        """At most SEARCH_MATCHES of the ids, with a note on the page when there are more."""
        found = list(ids[: SEARCH_MATCHES + 1])
        if len(found) > SEARCH_MATCHES:
            match = request.resolver_match
            if match is None or match.url_name != "autocomplete":
                messages.warning(
                    request,
                    f"More than {SEARCH_MATCHES} {kind} match: the results are those of {SEARCH_MATCHES} of them. "
                    "Add a word to narrow the search.",
                )
            found = found[:SEARCH_MATCHES]
        return found


class ClinicLogAdmin(ClinicModelAdmin):
    """A log or queue kept by the system: for the clinic admin alone, and nobody writes to it here."""

    refused_actions = frozenset({"add", "change", "delete"})
    reception_allowed = False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown on a parent's page, read only, to `viewer_roles`; each links to its own page."""

    viewer_roles: frozenset[Role] = frozenset()
    extra = 0
    show_change_link = True
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_view_permission(self, request, obj=None) -> bool:
        return access.role_of(request.user) in self.viewer_roles

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
