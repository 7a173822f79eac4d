"""Signal receivers that put changes made outside the services (Django admin) into the audit log."""

import functools
from dataclasses import replace

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry, LogEntryManager
from django.db.models.signals import post_save

import audit

_ADMIN_ACTIONS = {ADDITION: "admin.addition", CHANGE: "admin.change", DELETION: "admin.deletion"}


def admin_log_entry_saved(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    """Every admin change writes a LogEntry in the same request transaction; mirror it into the chain."""
    if not created:
        return
    content_type = instance.content_type
    target_type = f"{content_type.app_label}.{content_type.model}" if content_type else ""
    audit.record(
        actor=instance.user,
        action=_ADMIN_ACTIONS.get(instance.action_flag, "admin.change"),
        target=(target_type, instance.object_id or ""),
        details={"change_message": instance.get_change_message(), "object": instance.object_repr},
    )


def _with_bulk_signal(log_actions):
    # Admin bulk actions (delete_selected on several rows) log with bulk_create, which sends no post_save.
    @functools.wraps(log_actions)
    def wrapper(self, *args, **kwargs):
        result = log_actions(self, *args, **kwargs)
        if isinstance(result, list) and len(result) > 1:
            for entry in result:
                admin_log_entry_saved(LogEntry, entry, True)
        return result

    wrapper.audit_wrapped = True
    return wrapper


# Servers and workers act for whoever their requests and tasks name, not as the command itself.
_SERVER_COMMANDS = {"runserver", "qcluster", "testserver", "runserver_plus"}


def _with_command_context(execute):
    # Events written by a management command (a token minted with drf_create_token, codes added with
    # addstatictoken, a password set with changepassword) name the command as their actor.
    @functools.wraps(execute)
    def wrapper(self, *args, **options):
        from .context import current_request

        name = type(self).__module__.rsplit(".", 1)[-1]
        context = current_request.get()
        if context.command or name in _SERVER_COMMANDS:
            return execute(self, *args, **options)
        token = current_request.set(replace(context, command=name))
        try:
            return execute(self, *args, **options)
        finally:
            current_request.reset(token)

    wrapper.audit_wrapped = True
    return wrapper


def connect() -> None:
    from django.core.management.base import BaseCommand

    if not getattr(BaseCommand.execute, "audit_wrapped", False):
        BaseCommand.execute = _with_command_context(BaseCommand.execute)
    post_save.connect(admin_log_entry_saved, sender=LogEntry, dispatch_uid="audit.admin_log_entry_saved")
    if not getattr(LogEntryManager.log_actions, "audit_wrapped", False):
        LogEntryManager.log_actions = _with_bulk_signal(LogEntryManager.log_actions)
