"""Issue 3, acceptance 3 (killing a worker mid-signing loses nothing and signs nothing twice).

The one copy of that test is tests/faults/test_worker_kill.py: it needs a real qcluster on PostgreSQL
and Redis, so it runs with the other fault tests (`make faults`, `pytest -m faults tests/faults`).
"""
