"""Sent after every attempt to send a ledger e-mail, with its outcome: senders that keep their own record
(a certificate's agreement e-mail, an expiry notice, the monthly report) connect a receiver and find it by
`email.ref`. Keyword arguments: email (the OutgoingEmail row as it is now), status, error."""

from django.dispatch import Signal

email_attempted = Signal()
