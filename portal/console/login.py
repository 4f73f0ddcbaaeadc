"""The console's sign-in form: Django admin's, with failed sign-ins limited per client address.

A wrong password (or a user who may not sign in) counts against the address (`portal.lockout`,
shared with the API's tokens); past the limit the form refuses every attempt from that address
until the window ends, before the password is checked, and says so on the login page.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from portal import lockout


class LimitedLoginForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        address = lockout.client_address(self.request)
        wait = lockout.refused_for(address)
        if wait:
            raise ValidationError(lockout.message(wait), code="locked_out")
        try:
            return super().clean()
        except ValidationError:
            lockout.record_failure(address)
            raise
