"""The FHIR R4 (4.0.1) facade at /fhir/: read, search, Appointment/$find and $book over the same
services and the same `clinic.access` querysets as the JSON API (DESIGN.md "FHIR R4")."""
