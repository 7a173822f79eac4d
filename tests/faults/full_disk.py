"""A file storage that fails with ENOSPC, as a full disk does, while `<var dir>/disk-full` exists."""

import errno
import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage


class FullDiskStorage(FileSystemStorage):
    def _save(self, name, content):
        if (settings.VAR_DIR / "disk-full").exists():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)
        return super()._save(name, content)
