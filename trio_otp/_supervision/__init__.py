"""Layer 3: supervision.

Supervisor (strategies, restart intensity), DynamicSupervisor, PartitionSupervisor,
``run_application`` and ``render_tree``. Built on GenServer; imports only the layers
below it (:mod:`trio_otp._server`, :mod:`trio_otp._core`).
"""
