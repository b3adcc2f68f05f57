"""trio_otp.observer: see the running program in a browser (and in a terminal).

``Observer.child_spec(port=8001)`` in the program's tree serves a live page of its
supervision tree, processes, job queues and throughput; ``python -m trio_otp observe
URL`` prints the tree in a terminal. See docs/observer.rst.
"""

from ._jobs import Attempt as Attempt
from ._jobs import DurableJobSource as DurableJobSource
from ._jobs import JobSource as JobSource
from ._jobs import MemoryJobSource as MemoryJobSource
from ._observer import Observer as Observer

__all__ = ["Attempt", "DurableJobSource", "JobSource", "MemoryJobSource", "Observer"]
