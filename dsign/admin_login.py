"""The admin sign-in form: django-otp's, with the code checked by the same step-up as signing.

Factor secrets are sealed for the signer (issue 16), so a device's own ``verify_token`` no longer sees
the code; ``mfa_step_up`` runs the registered verifiers, with their throttling and audit events.
"""

from __future__ import annotations

from django import forms
from django_otp.admin import OTPAdminAuthenticationForm


class AdminAuthenticationForm(OTPAdminAuthenticationForm):
    def _verify_token(self, user, token, device=None):
        from accounts.services import StepUpFailed, mfa_step_up

        if device is None:
            return super()._verify_token(user, token, device)
        try:
            matched = mfa_step_up(user=user, code=token, purpose="admin")
        except StepUpFailed as exc:
            raise forms.ValidationError(str(exc), code="invalid_token") from exc
        if matched.persistent_id != device.persistent_id:
            raise forms.ValidationError(self.otp_error_messages["invalid_token"], code="invalid_token")
        return matched
