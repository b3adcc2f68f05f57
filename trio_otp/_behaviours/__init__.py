"""Layer 4: the behaviours built on supervision.

Agent, Task and TaskSupervisor (with ``async_stream``, ``await_many``) and the
Registry. Imports only the layers below it.
"""
