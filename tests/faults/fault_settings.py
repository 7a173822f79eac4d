"""dsign settings for the fault tests' processes: the real ones, with a disk that can be made full."""

from dsign.settings import *  # noqa: F403

STORAGES = {**STORAGES, "default": {"BACKEND": "tests.faults.full_disk.FullDiskStorage"}}  # noqa: F405
