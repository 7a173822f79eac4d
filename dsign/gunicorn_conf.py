"""gunicorn settings (`gunicorn -c python:dsign.gunicorn_conf dsign.wsgi`): dsign's log format for gunicorn's
own lines, and an access log with the duration and the request id the app sent back in X-Request-ID."""

import os

from dsign.logsetup import logging_config

accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
logconfig_dict = logging_config(level=os.environ.get("LOG_LEVEL", "INFO"), fmt=os.environ.get("LOG_FORMAT", "text"))
