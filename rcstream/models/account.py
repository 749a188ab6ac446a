"""Account events: contact-centre numbers, directory, emergency address, favorites, grants,
extension info and the extension list."""

from __future__ import annotations

from rcstream.models.base import Notification, WireModel
from rcstream.models.enums import (
    ExtensionEventType,
    ExtensionHint,
    Open,
    PhoneNumberEventType,
)

__all__ = [
    "ContactCenterNumberBody",
    "ContactCenterNumberNotification",
    "ContactCenterProvider",
    "DirectoryAccount",
    "DirectoryContact",
    "DirectoryEntriesBody",
    "DirectoryEntriesNotification",
    "DirectoryPhoneNumber",
    "DirectoryProfileImage",
    "DirectorySite",
    "EmergencyAddressBody",
    "EmergencyAddressNotification",
    "ExtensionChange",
    "ExtensionInfoBody",
    "ExtensionInfoNotification",
    "ExtensionListBody",
    "ExtensionListNotification",
    "ExtensionRefBody",
    "FavoritesNotification",
    "GrantsNotification",
    "PhoneNumberInfo",
]


class ContactCenterProvider(WireModel):
    """The contact-centre provider a number is routed to."""

    id: str | None = None
    name: str | None = None


class PhoneNumberInfo(WireModel):
    """The phone number a contact-centre number event is about."""

    uri: str | None = None
    id: str | None = None
    phone_number: str | None = None
    payment_type: str | None = None
    location: str | None = None
    type: str | None = None
    usage_type: str | None = None
    status: str | None = None
    contact_center_provider: ContactCenterProvider | None = None


class ContactCenterNumberBody(WireModel):
    """Body of a contact-centre phone number event."""

    event_type: Open[PhoneNumberEventType] | None = None
    phone_number_info: PhoneNumberInfo | None = None


class DirectoryAccount(WireModel):
    """The account a directory entry belongs to."""

    id: int | str | None = None


class DirectoryPhoneNumber(WireModel):
    """A phone number of a directory entry."""

    phone_number: str | None = None
    usage_type: str | None = None
    type: str | None = None


class DirectorySite(WireModel):
    """The site of a directory entry (``main-site`` for the main site)."""

    id: str | None = None
    name: str | None = None


class DirectoryProfileImage(WireModel):
    """Profile image reference of a directory entry."""

    uri: str | None = None
    etag: str | None = None


class DirectoryContact(WireModel):
    """One changed company-directory entry."""

    event_type: Open[ExtensionEventType] | None = None
    id: int | str | None = None
    type: str | None = None
    status: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    department: str | None = None
    email: str | None = None
    extension_number: str | None = None
    account: DirectoryAccount | None = None
    phone_numbers: list[DirectoryPhoneNumber] | None = None
    site: DirectorySite | None = None
    profile_image: DirectoryProfileImage | None = None


class DirectoryEntriesBody(DirectoryContact):
    """Body of a company-directory event.

    The samples carry the changed entries in ``contacts``; the reference also documents
    one entry's fields at the top level, so both shapes are typed.
    """

    contacts: list[DirectoryContact] | None = None


class EmergencyAddressBody(WireModel):
    """Body of an emergency-address event: which device of which extension changed."""

    extension_id: int | str | None = None
    device_id: int | str | None = None


class ExtensionRefBody(WireModel):
    """Body that only names the extension (favorites and grant-list events): fetch the
    resource to see what changed."""

    extension_id: int | str | None = None
    owner_id: int | str | None = None


class ExtensionInfoBody(WireModel):
    """Body of an extension-info event: what kind of change, with ``hints`` on what part."""

    extension_id: int | str | None = None
    event_type: Open[ExtensionEventType] | None = None
    hints: list[Open[ExtensionHint]] | None = None
    owner_id: int | str | None = None


class ExtensionChange(WireModel):
    """One extension created, updated or deleted (extension-list event)."""

    extension_id: int | str | None = None
    event_type: Open[ExtensionEventType] | None = None
    hints: list[Open[ExtensionHint]] | None = None


class ExtensionListBody(ExtensionInfoBody):
    """Body of an extension-list event: the changed extensions in ``extensions`` (the
    reference also documents a single change at the top level)."""

    extensions: list[ExtensionChange] | None = None


class ContactCenterNumberNotification(Notification[ContactCenterNumberBody]):
    """A phone number became, stopped being or changed as a contact-centre number.

    Filter: ``/restapi/v1.0/account/~/phone-number?usageType=ContactCenterNumber``
    (:func:`rcstream.filters.contact_center_numbers`). Permission: ``ReadAccounts``.
    """

    family = "contact-center-numbers"


class DirectoryEntriesNotification(Notification[DirectoryEntriesBody]):
    """Company-directory entries changed.

    Filter: ``/restapi/v1.0/account/~/directory/entries``
    (:func:`rcstream.filters.directory_entries`).
    """

    family = "directory-entries"


class EmergencyAddressNotification(Notification[EmergencyAddressBody]):
    """A device's emergency address changed.

    Filter: ``/restapi/v1.0/account/~/device/{deviceId}/emergency-address``
    (:func:`rcstream.filters.emergency_address`).
    """

    family = "emergency-address"


class FavoritesNotification(Notification[ExtensionRefBody]):
    """The extension's favorites list changed.

    Filter: ``.../extension/~/favorite`` (:func:`rcstream.filters.favorites`).
    """

    family = "favorites"


class GrantsNotification(Notification[ExtensionRefBody]):
    """The extension's grant list changed.

    Filter: ``.../extension/~/grant`` (:func:`rcstream.filters.grants`).
    """

    family = "grants"


class ExtensionInfoNotification(Notification[ExtensionInfoBody]):
    """The extension's settings changed or it was deleted.

    Filter: ``/restapi/v1.0/account/~/extension/~`` (:func:`rcstream.filters.extension_info`).
    """

    family = "extension-info"


class ExtensionListNotification(Notification[ExtensionListBody]):
    """Extensions of the account were created, updated or deleted.

    Filter: ``/restapi/v1.0/account/~/extension`` (:func:`rcstream.filters.extension_list`).
    """

    family = "extension-list"
