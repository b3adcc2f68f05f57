"""Layer 1, the core: processes and what passes between them.

Processes (:mod:`._process`) and their names (:mod:`._names`), calls and their
deadlines, messages, references, monitors and links, mailboxes, timers, exit reasons,
reports, telemetry and the exception hierarchy. Nothing here knows about supervisors:
the core imports no other layer of trio_otp.
"""
