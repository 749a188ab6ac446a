"""Webinar events: sessions, session state, registration state and registrants.

The public definitions do not describe these bodies; the models follow the webinar REST
resources (session, registrant) and keep everything else as unknown fields.
"""

from __future__ import annotations

from rcstream.models.base import Notification, WireModel
from rcstream.models.enums import Open, WebinarRuntimeStatus, WebinarSessionStatus

__all__ = [
    "WebinarRef",
    "WebinarRegistrantBody",
    "WebinarRegistrantNotification",
    "WebinarRegistrationStateBody",
    "WebinarRegistrationStateNotification",
    "WebinarSessionBody",
    "WebinarSessionNotification",
    "WebinarSessionStateNotification",
]


class WebinarRef(WireModel):
    """The webinar a session belongs to."""

    id: str | None = None
    title: str | None = None


class WebinarSessionBody(WireModel):
    """A webinar session (configuration and runtime state)."""

    event_type: str | None = None
    id: str | None = None
    webinar: WebinarRef | None = None
    title: str | None = None
    description: str | None = None
    scheduled_start_time: str | None = None
    scheduled_duration: int | None = None
    time_zone: str | None = None
    locale_code: str | None = None
    status: Open[WebinarSessionStatus] | None = None
    runtime_status: Open[WebinarRuntimeStatus] | None = None
    start_time: str | None = None
    end_time: str | None = None
    creation_time: str | None = None
    last_modified_time: str | None = None


class WebinarRegistrationStateBody(WireModel):
    """Registration settings of a session (open or closed)."""

    id: str | None = None
    webinar_id: str | None = None
    registration_status: str | None = None
    last_modified_time: str | None = None


class WebinarRegistrantBody(WireModel):
    """A registrant of a webinar session."""

    event_type: str | None = None
    id: str | None = None
    session_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    join_uri: str | None = None
    cancellation_uri: str | None = None
    registered_post_webinar: bool | None = None
    external_id: str | None = None
    registration_time: str | None = None
    source: str | None = None
    participant_id: str | None = None
    creation_time: str | None = None
    last_modified_time: str | None = None


class WebinarSessionNotification(Notification[WebinarSessionBody]):
    """A webinar session was created or changed.

    Filter: ``/webinar/configuration/v1/company/sessions``
    (:func:`rcstream.filters.webinar_sessions`).
    """

    family = "webinar-sessions"


class WebinarSessionStateNotification(Notification[WebinarSessionBody]):
    """A webinar session's live state changed (started, went live, ended ...).

    Filter: ``/webinar/runtime/v1/company/sessions/state``
    (:func:`rcstream.filters.webinar_session_state`).
    """

    family = "webinar-session-state"


class WebinarRegistrationStateNotification(Notification[WebinarRegistrationStateBody]):
    """A webinar session's registration settings changed.

    Filter: ``/webinar/registration/v1/company/sessions/state``
    (:func:`rcstream.filters.webinar_registration_state`).
    """

    family = "webinar-registration-state"


class WebinarRegistrantNotification(Notification[WebinarRegistrantBody]):
    """A registrant was created or changed.

    Filter: ``/webinar/registration/v1/company/sessions/registrants``
    (:func:`rcstream.filters.webinar_registrants`).
    """

    family = "webinar-registrants"
